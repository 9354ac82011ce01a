package localworld

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"

	"gopkg.in/yaml.v3"
)

// TemplateRole is an AWS::IAM::Role of a template, its intrinsics resolved.
type TemplateRole struct {
	LogicalID string
	Path      string            // "/" when the template sets none
	Name      string            // RoleName when the template sets one
	Trust     string            // the trust policy, as JSON
	Policies  map[string]string // inline policies by name, as JSON
	Functions []string          // the handlers (dist/<name>.zip) whose functions run with it
}

// ReadRoles reads the roles of a template (those whose Condition holds), and which
// functions use them (Role: !GetAtt X.Arn), resolving intrinsics with vals.
func ReadRoles(file string, vals TemplateValues) (map[string]*TemplateRole, error) {
	t, res, err := loadTemplate(file, vals)
	if err != nil {
		return nil, err
	}
	roles := map[string]*TemplateRole{}
	for i := 0; i+1 < len(res.Content); i += 2 {
		id, r := res.Content[i].Value, res.Content[i+1]
		if ty := get(r, "Type"); ty == nil || ty.Value != "AWS::IAM::Role" {
			continue
		}
		if c := get(r, "Condition"); c != nil && !t.condition(c.Value) {
			continue
		}
		props := get(r, "Properties")
		tr := &TemplateRole{LogicalID: id, Path: "/", Policies: map[string]string{}}
		if p := get(props, "Path"); p != nil {
			tr.Path = fmt.Sprint(t.value(p))
		}
		if n := get(props, "RoleName"); n != nil {
			tr.Name = fmt.Sprint(t.value(n))
		}
		trust, err := json.Marshal(t.value(get(props, "AssumeRolePolicyDocument")))
		if err != nil {
			return nil, fmt.Errorf("role %s: trust policy: %w", id, err)
		}
		tr.Trust = string(trust)
		if ps := get(props, "Policies"); ps != nil {
			for _, pn := range ps.Content {
				name := fmt.Sprint(t.value(get(pn, "PolicyName")))
				doc, err := json.Marshal(t.value(get(pn, "PolicyDocument")))
				if err != nil {
					return nil, fmt.Errorf("role %s: policy %s: %w", id, name, err)
				}
				tr.Policies[name] = string(doc)
			}
		}
		roles[id] = tr
	}
	for i := 0; i+1 < len(res.Content); i += 2 {
		r := res.Content[i+1]
		ty := get(r, "Type")
		if ty == nil || (ty.Value != "AWS::Serverless::Function" && ty.Value != "AWS::Lambda::Function") {
			continue
		}
		props := get(r, "Properties")
		role := refTarget(get(props, "Role"))
		handler := strings.ToLower(strings.TrimSuffix(res.Content[i].Value, "Function"))
		if cu := get(props, "CodeUri"); cu != nil && cu.Kind == yaml.ScalarNode {
			handler = strings.TrimSuffix(path.Base(cu.Value), ".zip")
		}
		if tr, ok := roles[role]; ok {
			tr.Functions = append(tr.Functions, handler)
		}
	}
	return roles, nil
}

// ARN is the role's ARN in account, with name as its name when the template sets none (as
// CloudFormation generates one).
func (r *TemplateRole) ARN(account, name string) string {
	if r.Name != "" {
		name = r.Name
	}
	return "arn:aws:iam::" + account + ":role" + r.Path + name
}
