package fakeaws

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Config returns an SDK configuration that sends every call to url, in
// us-east-1, with static credentials and no retries, so that every refusal
// reaches the code under test.
func Config(url string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	}
}

// RetryConfig is Config with the SDK's standard retryer, at most attempts
// attempts and no backoff.
func RetryConfig(url string, attempts int) aws.Config {
	cfg := Config(url)
	cfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = attempts
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		})
	}
	return cfg
}

// Config returns the configuration of Config that sends every call to s.
func (s *Server) Config() aws.Config { return Config(s.URL) }

// RetryConfig returns the configuration of RetryConfig that sends every call
// to s.
func (s *Server) RetryConfig(attempts int) aws.Config { return RetryConfig(s.URL, attempts) }
