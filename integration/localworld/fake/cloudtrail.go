package fake

import (
	"context"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// CloudTrail is a member account's CloudTrail, every region in one (DescribeTrails answers
// every trail, as it does for the shadow trails of multi-region ones). It implements
// trail.API. The maps are keyed by trail ARN, except Selectors, by the name or ARN the
// caller passes; a trail no map names is not logging, has no selectors and no tags.
type CloudTrail struct {
	Log *Log

	Trails    []cttypes.Trail
	Logging   map[string]bool
	Selectors map[string]*cloudtrail.GetEventSelectorsOutput
	Tags      map[string][]cttypes.Tag

	DescribeTrailsCalls    Calls[*cloudtrail.DescribeTrailsInput, *cloudtrail.DescribeTrailsOutput]
	GetTrailStatusCalls    Calls[*cloudtrail.GetTrailStatusInput, *cloudtrail.GetTrailStatusOutput]
	GetEventSelectorsCalls Calls[*cloudtrail.GetEventSelectorsInput, *cloudtrail.GetEventSelectorsOutput]
	StartLoggingCalls      Calls[*cloudtrail.StartLoggingInput, *cloudtrail.StartLoggingOutput]
	ListTagsCalls          Calls[*cloudtrail.ListTagsInput, *cloudtrail.ListTagsOutput]

	mu sync.Mutex
}

// AddTrail adds a trail and whether it logs.
func (f *CloudTrail) AddTrail(t cttypes.Trail, logging bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Trails = append(f.Trails, t)
	if f.Logging == nil {
		f.Logging = map[string]bool{}
	}
	f.Logging[aws.ToString(t.TrailARN)] = logging
}

// SetLogging sets whether the trail of that ARN logs, as StartLogging and StopLogging do.
func (f *CloudTrail) SetLogging(arn string, logging bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Logging == nil {
		f.Logging = map[string]bool{}
	}
	f.Logging[arn] = logging
}

func (f *CloudTrail) DescribeTrails(ctx context.Context, in *cloudtrail.DescribeTrailsInput, _ ...func(*cloudtrail.Options)) (*cloudtrail.DescribeTrailsOutput, error) {
	return f.DescribeTrailsCalls.invoke(ctx, f.Log, read("DescribeTrails"), in, func(context.Context, *cloudtrail.DescribeTrailsInput) (*cloudtrail.DescribeTrailsOutput, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		return &cloudtrail.DescribeTrailsOutput{TrailList: append([]cttypes.Trail(nil), f.Trails...)}, nil
	})
}

func (f *CloudTrail) GetTrailStatus(ctx context.Context, in *cloudtrail.GetTrailStatusInput, _ ...func(*cloudtrail.Options)) (*cloudtrail.GetTrailStatusOutput, error) {
	return f.GetTrailStatusCalls.invoke(ctx, f.Log, read("GetTrailStatus"), in, func(_ context.Context, in *cloudtrail.GetTrailStatusInput) (*cloudtrail.GetTrailStatusOutput, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		return &cloudtrail.GetTrailStatusOutput{IsLogging: aws.Bool(f.Logging[aws.ToString(in.Name)])}, nil
	})
}

func (f *CloudTrail) GetEventSelectors(ctx context.Context, in *cloudtrail.GetEventSelectorsInput, _ ...func(*cloudtrail.Options)) (*cloudtrail.GetEventSelectorsOutput, error) {
	return f.GetEventSelectorsCalls.invoke(ctx, f.Log, read("GetEventSelectors"), in, func(_ context.Context, in *cloudtrail.GetEventSelectorsInput) (*cloudtrail.GetEventSelectorsOutput, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if s, ok := f.Selectors[aws.ToString(in.TrailName)]; ok {
			return s, nil
		}
		return &cloudtrail.GetEventSelectorsOutput{}, nil
	})
}

// StartLogging starts the trail the name or ARN names. The Log names the trail as the caller
// did ("StartLogging main").
func (f *CloudTrail) StartLogging(ctx context.Context, in *cloudtrail.StartLoggingInput, _ ...func(*cloudtrail.Options)) (*cloudtrail.StartLoggingOutput, error) {
	o := write("StartLogging")
	o.target = aws.ToString(in.Name)
	return f.StartLoggingCalls.invoke(ctx, f.Log, o, in, func(_ context.Context, in *cloudtrail.StartLoggingInput) (*cloudtrail.StartLoggingOutput, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		name := aws.ToString(in.Name)
		for _, t := range f.Trails {
			if aws.ToString(t.Name) == name || aws.ToString(t.TrailARN) == name {
				if f.Logging == nil {
					f.Logging = map[string]bool{}
				}
				f.Logging[aws.ToString(t.TrailARN)] = true
			}
		}
		return &cloudtrail.StartLoggingOutput{}, nil
	})
}

func (f *CloudTrail) ListTags(ctx context.Context, in *cloudtrail.ListTagsInput, _ ...func(*cloudtrail.Options)) (*cloudtrail.ListTagsOutput, error) {
	return f.ListTagsCalls.invoke(ctx, f.Log, read("ListTags"), in, func(_ context.Context, in *cloudtrail.ListTagsInput) (*cloudtrail.ListTagsOutput, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		out := &cloudtrail.ListTagsOutput{}
		for _, arn := range in.ResourceIdList {
			out.ResourceTagList = append(out.ResourceTagList, cttypes.ResourceTag{ResourceId: aws.String(arn), TagsList: f.Tags[arn]})
		}
		return out, nil
	})
}

// S3 lists a member account's own buckets (trail.BucketsAPI). A bucket's region is
// us-east-1 unless Regions says otherwise.
type S3 struct {
	Log *Log

	Buckets []string
	Regions map[string]string

	ListBucketsCalls Calls[*s3.ListBucketsInput, *s3.ListBucketsOutput]

	mu sync.Mutex
}

// ListBuckets answers the buckets whose name begins with Prefix and, when BucketRegion is
// set, in that region, in one page.
func (f *S3) ListBuckets(ctx context.Context, in *s3.ListBucketsInput, _ ...func(*s3.Options)) (*s3.ListBucketsOutput, error) {
	return f.ListBucketsCalls.invoke(ctx, f.Log, read("ListBuckets"), in, func(_ context.Context, in *s3.ListBucketsInput) (*s3.ListBucketsOutput, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		out := &s3.ListBucketsOutput{}
		for _, b := range f.Buckets {
			r := f.Regions[b]
			if r == "" {
				r = "us-east-1"
			}
			if strings.HasPrefix(b, aws.ToString(in.Prefix)) && (in.BucketRegion == nil || aws.ToString(in.BucketRegion) == r) {
				out.Buckets = append(out.Buckets, s3types.Bucket{Name: aws.String(b), BucketRegion: aws.String(r)})
			}
		}
		return out, nil
	})
}
