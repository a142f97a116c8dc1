package bot

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/store"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are astrobot's Prometheus metrics, on a registry of their own.
type Metrics struct {
	Registry   *prometheus.Registry
	Requests   *prometheus.CounterVec   // Slack requests by kind, name and outcome
	AckSeconds *prometheus.HistogramVec // time from receipt to ack, by kind and name
	Deliveries *prometheus.CounterVec   // outbox deliveries by notification kind and outcome
	Jobs       *prometheus.CounterVec   // jobs in AWS by job kind and outcome
	Lookups    *prometheus.CounterVec   // look-ups of deliveries that may have happened, by outcome
	Rejected   *prometheus.CounterVec   // HTTP requests refused before parsing, by reason
	SlackCalls *prometheus.CounterVec   // Slack Web API calls by method and outcome
	AWSCalls   *prometheus.CounterVec   // AWS API calls by service, operation and outcome
}

// NewMetrics registers astrobot's metrics and the Go runtime's on a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "astrobot_slack_requests_total",
			Help: "Slack requests handled, by kind (command, interaction, event), name (command, callback or action ID) and outcome.",
		}, []string{"kind", "name", "outcome"}),
		AckSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "astrobot_ack_seconds",
			Help:    "Time from receiving a Slack request to acknowledging it, by kind and name.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 3},
		}, []string{"kind", "name"}),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "astrobot_outbox_deliveries_total",
			Help: "Outbox notifications handed to Slack, by notification kind and outcome (delivered, deferred, dead_letter).",
		}, []string{"kind", "outcome"}),
		Jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "astrobot_jobs_total",
			Help: "Jobs done in AWS (cleanups of cancelled requests), by job kind and outcome (done, deferred, dead_letter).",
		}, []string{"kind", "outcome"}),
		Lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "astrobot_delivery_lookups_total",
			Help: "Look-ups, after a restart, of deliveries that may have happened already, by outcome (found: adopted, not posted again; not_found: posted; missing_scope: the app lacks the history scopes, posted: at least once).",
		}, []string{"outcome"}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "astrobot_http_rejected_total",
			Help: "HTTP requests refused before any parsing, by reason.",
		}, []string{"reason"}),
	}
	m.SlackCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "astrobot_slack_api_calls_total",
		Help: "Slack Web API calls, by method and outcome (ok, http_<status>, transport_error).",
	}, []string{"method", "outcome"})
	m.AWSCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "astrobot_aws_api_calls_total",
		Help: "AWS API calls after the SDK's retries, by service, operation and outcome (ok or the AWS error code).",
	}, []string{"service", "operation", "outcome"})
	m.Registry.MustRegister(m.Requests, m.AckSeconds, m.Deliveries, m.Jobs, m.Lookups, m.Rejected, m.SlackCalls, m.AWSCalls,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// RequestCounter counts requests by status; *store.DB implements it.
type RequestCounter interface {
	RequestCounts(ctx context.Context) (map[astrobot.Status]int, error)
}

// QueueStatser describes a queue; *store.Queue implements it.
type QueueStatser interface {
	Stats(ctx context.Context) (store.QueueStats, error)
}

// queueDescs are the metrics of one queue.
type queueDescs struct {
	name                string
	q                   QueueStatser
	depth, oldest, dead *prometheus.Desc
}

// stateCollector reports the store's state at scrape time: requests by status
// and, for the outbox and the jobs queue, the depth, the age of the oldest
// entry and the dead letters.
type stateCollector struct {
	requests RequestCounter
	queues   []queueDescs
	now      func() time.Time
	log      *slog.Logger
	byStatus *prometheus.Desc
}

// RegisterState adds the store's state to the metrics: requests by status,
// and the outbox and the jobs queue.
func (m *Metrics) RegisterState(requests RequestCounter, outbox, jobs QueueStatser, now func() time.Time, log *slog.Logger) {
	queue := func(name, what string, q QueueStatser) queueDescs {
		return queueDescs{name: name, q: q,
			depth:  prometheus.NewDesc("astrobot_"+name+"_depth", what+" waiting.", nil, nil),
			oldest: prometheus.NewDesc("astrobot_"+name+"_oldest_age_seconds", "Age of the oldest of the "+what+" waiting (0 when none).", nil, nil),
			dead:   prometheus.NewDesc("astrobot_"+name+"_dead_letters", what+" given up on for good, kept in the dead-letter bucket.", nil, nil)}
	}
	m.Registry.MustRegister(&stateCollector{requests: requests, now: now, log: log,
		byStatus: prometheus.NewDesc("astrobot_requests", "Stored requests by status.", []string{"status"}, nil),
		queues:   []queueDescs{queue("outbox", "Notifications for Slack", outbox), queue("jobs", "Jobs in AWS", jobs)},
	})
}

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.byStatus
	for _, q := range c.queues {
		ch <- q.depth
		ch <- q.oldest
		ch <- q.dead
	}
}

// Collect implements prometheus.Collector.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.requests.RequestCounts(ctx)
	if err != nil {
		c.log.Error("metrics: counting requests failed", "err", err)
	}
	for status, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.byStatus, prometheus.GaugeValue, float64(n), string(status))
	}
	for _, q := range c.queues {
		st, err := q.q.Stats(ctx)
		if err != nil {
			c.log.Error("metrics: reading a queue failed", "queue", q.name, "err", err)
			continue
		}
		age := 0.0
		if !st.Oldest.IsZero() {
			age = c.now().Sub(st.Oldest).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(q.depth, prometheus.GaugeValue, float64(st.Depth))
		ch <- prometheus.MustNewConstMetric(q.oldest, prometheus.GaugeValue, age)
		ch <- prometheus.MustNewConstMetric(q.dead, prometheus.GaugeValue, float64(st.DeadLetters))
	}
}

// slackTransport counts Slack Web API calls by method.
type slackTransport struct {
	next http.RoundTripper
	m    *Metrics
}

// RoundTrip implements http.RoundTripper.
func (t slackTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	method := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
	resp, err := t.next.RoundTrip(r)
	outcome := "ok"
	switch {
	case err != nil:
		outcome = "transport_error"
	case resp.StatusCode >= 400:
		outcome = "http_" + strconv.Itoa(resp.StatusCode)
	}
	t.m.SlackCalls.WithLabelValues(method, outcome).Inc()
	return resp, err
}

// SlackHTTPClient is the HTTP client of the Slack Web API, counted.
func (m *Metrics) SlackHTTPClient() *http.Client {
	return &http.Client{Transport: slackTransport{next: http.DefaultTransport, m: m}, Timeout: 30 * time.Second}
}

// AWSAPIOption counts AWS API calls by service and operation, after the
// SDK's retries.
func (m *Metrics) AWSAPIOption(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("astrobotMetrics",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleInitialize(ctx, in)
			outcome := "ok"
			if err != nil {
				outcome = "error"
				if ae, ok := errors.AsType[smithy.APIError](err); ok {
					outcome = ae.ErrorCode()
				}
			}
			m.AWSCalls.WithLabelValues(awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx), outcome).Inc()
			return out, md, err
		}), middleware.After)
}
