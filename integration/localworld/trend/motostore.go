package trend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// TrendAWSAccount is the account of the stand-in's template bucket: Trend's own, outside the
// Organization. Trend's account and bucket are not known; the product never relies on them.
const TrendAWSAccount = "000011112222"

// MotoStore keeps generated templates in a bucket of moto's S3 that belongs to
// TrendAWSAccount, and answers URLs moto's CloudFormation can read: host localhost,
// path-style (moto/cloudformation/utils.py, get_stack_from_s3_url). The bucket is made when
// missing, so a store outlives a reset of moto.
type MotoStore struct {
	Endpoint string // moto's URL, http://127.0.0.1:PORT
	Bucket   string // default trend-visionone-cam-templates
}

// NewMotoStore is a store in moto at endpoint.
func NewMotoStore(endpoint string) *MotoStore {
	return &MotoStore{Endpoint: endpoint, Bucket: "trend-visionone-cam-templates"}
}

// Put uploads a template and returns its URL.
func (m *MotoStore) Put(ctx context.Context, key string, body []byte) (string, error) {
	u, err := url.Parse(m.Endpoint)
	if err != nil || u.Port() == "" {
		return "", fmt.Errorf("moto store: endpoint %q has no port", m.Endpoint)
	}
	// Credentials are asked for each time: a reset of moto forgets the ones it handed out.
	client, err := m.connect(ctx)
	if err != nil {
		return "", err
	}
	_, err = client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(m.Bucket)})
	var owned *s3types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return "", fmt.Errorf("moto store: create bucket %s: %w", m.Bucket, err)
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(m.Bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		return "", fmt.Errorf("moto store: put %s: %w", key, err)
	}
	return "http://localhost:" + u.Port() + "/" + m.Bucket + "/" + key, nil
}

// connect assumes a role in TrendAWSAccount through moto's STS (moto maps the credentials it
// hands out to the role's account).
func (m *MotoStore) connect(ctx context.Context) (*s3.Client, error) {
	base := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(m.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")}
	out, err := sts.NewFromConfig(base).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + TrendAWSAccount + ":role/VisionOneTemplates"), RoleSessionName: aws.String("visionone-standin")})
	if err != nil {
		return nil, fmt.Errorf("moto store: assume a role in %s: %w", TrendAWSAccount, err)
	}
	c := out.Credentials
	cfg := base.Copy()
	cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }), nil
}
