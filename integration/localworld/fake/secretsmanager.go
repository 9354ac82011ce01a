package fake

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// SecretsManager answers GetSecretValue (secretstore.SecretsAPI) with the current version of
// the secrets Put stored, by the id they were stored under (a name or an ARN, as the caller
// passes it). A secret it does not hold is ResourceNotFoundException, with moto's message
// (moto/secretsmanager/exceptions.py).
type SecretsManager struct {
	Log *Log

	GetSecretValueCalls Calls[*secretsmanager.GetSecretValueInput, *secretsmanager.GetSecretValueOutput]

	mu      sync.Mutex
	secrets map[string]secretVersion
}

type secretVersion struct{ value, version string }

// Put stores value as the current version (version is its VersionId) of the secret id: a
// rotation when the secret is there already.
func (f *SecretsManager) Put(id, value, version string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.secrets == nil {
		f.secrets = map[string]secretVersion{}
	}
	f.secrets[id] = secretVersion{value, version}
}

func (f *SecretsManager) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return f.GetSecretValueCalls.invoke(ctx, f.Log, read("GetSecretValue"), in, func(_ context.Context, in *secretsmanager.GetSecretValueInput) (*secretsmanager.GetSecretValueOutput, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		s, ok := f.secrets[aws.ToString(in.SecretId)]
		if !ok {
			return nil, &smtypes.ResourceNotFoundException{Message: aws.String("Secrets Manager can't find the specified secret.")}
		}
		return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(s.value), VersionId: aws.String(s.version),
			VersionStages: []string{"AWSCURRENT"}}, nil
	})
}
