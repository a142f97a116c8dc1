package bot

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are astrobot's Prometheus metrics, on a registry of their own.
type Metrics struct {
	Registry   *prometheus.Registry
	Requests   *prometheus.CounterVec   // Slack requests by kind, name and outcome
	AckSeconds *prometheus.HistogramVec // time from receipt to ack, by kind and name
	Deliveries *prometheus.CounterVec   // outbox deliveries by notification kind and outcome
	Rejected   *prometheus.CounterVec   // HTTP requests refused before parsing, by reason
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
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "astrobot_http_rejected_total",
			Help: "HTTP requests refused before any parsing, by reason.",
		}, []string{"reason"}),
	}
	m.Registry.MustRegister(m.Requests, m.AckSeconds, m.Deliveries, m.Rejected,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
