package localworld

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
)

// StackParams are a described stack's parameters by key. moto reads NoEcho parameters back
// in clear: never print the whole map.
func StackParams(s *cfntypes.Stack) map[string]string {
	m := map[string]string{}
	for _, p := range s.Parameters {
		m[aws.ToString(p.ParameterKey)] = aws.ToString(p.ParameterValue)
	}
	return m
}

// StackTags are a described stack's tags by key.
func StackTags(s *cfntypes.Stack) map[string]string {
	m := map[string]string{}
	for _, t := range s.Tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}
