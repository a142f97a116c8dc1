package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/cloud"
	"github.com/astrobot-dev/astrobot/handlers"
	"github.com/astrobot-dev/astrobot/store"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// ConfigError is a problem with the configuration or the files it names,
// found before anything connects.
type ConfigError struct{ Err error }

// Error returns the problems found.
func (e *ConfigError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *ConfigError) Unwrap() error { return e.Err }

// supportGroupTTL is how long the members of the support group are cached.
const supportGroupTTL = 5 * time.Minute

// Run runs astrobot with cfg until ctx ends, then shuts down gracefully: it
// stops taking new work, finishes the acks in flight, stops the workers and
// closes the database.
func Run(ctx context.Context, cfg Config, log *slog.Logger, now func() time.Time) error {
	db, err := store.Open(cfg.DBPath, store.Options{Timeout: dbLockTimeout, Now: now})
	if err != nil {
		return &ConfigError{fmt.Errorf("ASTROBOT_DB: %w", err)}
	}
	defer db.Close()
	metrics := NewMetrics()
	metrics.RegisterState(db, db.Outbox(), db.Jobs(), now, log)
	api, err := connectSlack(ctx, cfg, metrics, log)
	if err != nil {
		return err
	}
	dir, closeDir, err := directory(ctx, cfg, db, log, now, metrics)
	if err != nil {
		return err
	}
	defer closeDir()

	h := handlers.New(handlers.Config{
		Directory:      dir,
		Tenancy:        astrobot.NewTenancy(cfg.File.Organizations),
		Requests:       db,
		Support:        handlers.NewSupportTeam(cfg.SupportUsers, cfg.SupportGroup, api, supportGroupTTL, now, log),
		Slack:          api,
		SupportChannel: cfg.SupportChannel,
		Modes:          cfg.Modes,
		CountLookup:    func(outcome string) { metrics.Lookups.WithLabelValues(outcome).Inc() },
		Now:            now,
		Logger:         log,
	})
	defer h.Close()
	d := newDispatcher(h, metrics, log, now)
	defer d.running.Wait()

	var ready atomic.Bool
	ops, admin, stopServers, err := startOperatorServers(cfg, metrics, db, &ready)
	if err != nil {
		return err
	}
	defer stopServers()
	stopWorkers, err := startWorkers(ctx, cfg, db, dir, h, metrics, now, log)
	if err != nil {
		return err
	}
	defer stopWorkers()
	if err := serveSlack(ctx, cfg, d, api, &ready, log, now, "ops", ops, "admin", admin); err != nil {
		return err
	}
	log.Info("shutting down: finishing work in flight")
	return nil
}

// connectSlack makes the Slack client and checks the bot token with
// auth.test.
func connectSlack(ctx context.Context, cfg Config, metrics *Metrics, log *slog.Logger) (*slack.Client, error) {
	api := slack.New(cfg.BotToken, slack.OptionAPIURL(cfg.APIURL), slack.OptionAppLevelToken(cfg.AppToken),
		slack.OptionHTTPClient(metrics.SlackHTTPClient()))
	auth, err := api.AuthTestContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("SLACK_BOT_TOKEN was refused by Slack (auth.test: %w); check the token and SLACK_API_URL", err)
	}
	log.Info("connected to Slack", "team", auth.TeamID, "bot_user", auth.UserID, "mode", cfg.Mode, "clusters", len(cfg.File.Clusters))
	return api, nil
}

// startOperatorServers starts the ops listener (health, readiness, metrics,
// profiles) and the loopback admin endpoint, and returns their addresses and
// how to stop them.
func startOperatorServers(cfg Config, metrics *Metrics, db *store.DB, ready *atomic.Bool) (ops, admin string, stop func(), err error) {
	opsLn, err := listen(cfg.OpsAddr, "ASTROBOT_OPS_ADDR")
	if err != nil {
		return "", "", nil, err
	}
	adminLn, err := listen(cfg.AdminAddr, "ASTROBOT_ADMIN_ADDR")
	if err != nil {
		_ = opsLn.Close()
		return "", "", nil, err
	}
	opsSrv := &http.Server{Handler: opsMux(metrics, ready), ReadHeaderTimeout: 5 * time.Second}
	adminSrv := &http.Server{Handler: adminMux(db), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = opsSrv.Serve(opsLn) }()
	go func() { _ = adminSrv.Serve(adminLn) }()
	return opsLn.Addr().String(), adminLn.Addr().String(), func() { opsSrv.Close(); adminSrv.Close() }, nil
}

// startWorkers starts the outbox worker, the jobs worker, the reminders and,
// for the kinds done in AWS, the watcher with their provisioners. The
// returned function stops them and waits for them to finish.
func startWorkers(ctx context.Context, cfg Config, db *store.DB, dir handlers.Directory, h *handlers.Handler, metrics *Metrics, now func() time.Time, log *slog.Logger) (func(), error) {
	rec := NewRecorder(db, now, log)
	provisioners, err := provisioners(ctx, cfg, dir, rec, metrics, now, log)
	if err != nil {
		return nil, err
	}
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	var workers sync.WaitGroup
	if len(provisioners) > 0 {
		watcher := NewWatcher(db, provisioners, cfg.WatchInterval, log)
		workers.Go(func() { watcher.Run(workCtx) })
	}
	outbox := NewQueueWorker(QueueConfig{Name: "outbox", Queue: db.Outbox(), Do: deliver(h, db), Retry: slackRetry, NotDone: slackRefused,
		Outcomes: metrics.Deliveries, Done: "delivered", Pace: NewPacer(cfg.SlackBurst, cfg.SlackEvery), Conversation: conversation(h)}, now, log)
	jobs := NewQueueWorker(QueueConfig{Name: "jobs", Queue: db.Jobs(), Do: runJob(provisioners, rec), Retry: awsRetry,
		Outcomes: metrics.Jobs, Done: "done"}, now, log)
	workers.Go(func() { outbox.Run(workCtx) })
	workers.Go(func() { jobs.Run(workCtx) })
	workers.Go(func() { NewReminderWorker(db, cfg.SLAs, now, log).Run(workCtx) })
	return func() { stopWork(); workers.Wait() }, nil
}

// provisioners returns the provisioner of every kind done in AWS. A new
// kind's provisioner is registered here.
func provisioners(ctx context.Context, cfg Config, dir handlers.Directory, rec *Recorder, metrics *Metrics, now func() time.Time, log *slog.Logger) (map[astrobot.Kind]Provisioner, error) {
	out := map[astrobot.Kind]Provisioner{}
	if !cfg.AWSKinds() {
		return out, nil
	}
	awsCfg, err := awsConfig(ctx, "", metrics.AWSAPIOption)
	if err != nil {
		return nil, err
	}
	aws := func(k astrobot.Kind) bool { return cfg.Modes[k] == astrobot.ModeAWS }
	if aws(astrobot.KindPeering) {
		out[astrobot.KindPeering] = NewPeeringProvisioner(cloud.NewPeerings(awsCfg, cloud.PeeringOptions{Roles: cfg.AWSRoles, Logger: log, Now: now}), dir, rec)
	}
	if aws(astrobot.KindPrivateLink) {
		out[astrobot.KindPrivateLink] = NewPrivateLinkProvisioner(cloud.NewPrivateLinks(awsCfg, cloud.PrivateLinkOptions{Roles: cfg.AWSRoles, Logger: log}), dir, rec)
	}
	if aws(astrobot.KindTransitGateway) {
		out[astrobot.KindTransitGateway] = NewTransitGatewayProvisioner(cloud.NewTransitGateways(awsCfg, cloud.TransitGatewayOptions{Roles: cfg.AWSRoles, Logger: log}), dir, rec)
	}
	if aws(astrobot.KindHostedZone) {
		out[astrobot.KindHostedZone] = NewHostedZoneProvisioner(cloud.NewZones(awsCfg, cloud.ZoneOptions{Roles: cfg.AWSRoles, Logger: log}), dir, rec)
	}
	return out, nil
}

// serveSlack serves Slack over the transport cfg chooses until ctx ends,
// marking the bot ready once it listens.
func serveSlack(ctx context.Context, cfg Config, d *dispatcher, api *slack.Client, ready *atomic.Bool, log *slog.Logger, now func() time.Time, addrs ...any) error {
	switch cfg.Mode {
	case ModeHTTP:
		ln, err := listen(cfg.HTTPAddr, "ASTROBOT_HTTP_ADDR")
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.Handle("/slack/events", &HTTP{d: d, v: NewVerifier(cfg.SigningSecret, now)})
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
			WriteTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second}
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(ln) }()
		ready.Store(true)
		log.Info("serving Slack over HTTP", append([]any{"addr", ln.Addr().String(), "path", "/slack/events"}, addrs...)...)
		select {
		case err := <-errc:
			return fmt.Errorf("http server: %w", err)
		case <-ctx.Done():
		}
		ready.Store(false)
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("http shutdown: %w", err)
		}
	case ModeSocket:
		log.Info("serving Slack over Socket Mode", addrs...)
		if err := d.runSocket(ctx, socketmode.New(api), func() { ready.Store(true) }); err != nil {
			return err
		}
		ready.Store(false)
	}
	return nil
}

// directory builds the cluster directory cfg asks for. The AWS directory is
// cached in the database and warmed up in the background at start.
func directory(ctx context.Context, cfg Config, db *store.DB, log *slog.Logger, now func() time.Time, m *Metrics) (handlers.Directory, func(), error) {
	if cfg.Directory != "aws" {
		return cloud.NewStatic(cfg.File.Clusters), func() {}, nil
	}
	discover, err := NewAWSDirectory(ctx, cfg.DirectoryConfig, log, m.AWSAPIOption)
	if err != nil {
		return nil, nil, err
	}
	cached := cloud.NewCached(discover, db, cloud.CachedOptions{TTL: cfg.ClusterTTL, Now: now, Logger: log})
	go func() {
		if _, err := cached.Clusters(ctx); err != nil {
			log.Warn("warming up the cluster cache failed; lookups will retry", "err", err)
		}
	}()
	return cached, cached.Close, nil
}

// NewAWSDirectory returns the AWS cluster directory of cfg, with credentials
// and endpoints from the SDK's default chain (AWS_ENDPOINT_URL works).
func NewAWSDirectory(ctx context.Context, cfg DirectoryConfig, log *slog.Logger, apiOptions ...func(*middleware.Stack) error) (*cloud.AWS, error) {
	awsCfg, err := awsConfig(ctx, cfg.AWSRegions[0], apiOptions...)
	if err != nil {
		return nil, err
	}
	return cloud.NewAWS(awsCfg, cloud.AWSOptions{Regions: cfg.AWSRegions, Roles: cfg.AWSRoles,
		ClusterTag: cfg.ClusterTag, OrgTag: cfg.OrgTag, Logger: log}), nil
}

// Clusters reads the clusters cfg names, straight from their source: the
// clusters file, or a fresh discovery in AWS. It needs no database, so it works
// while the bot runs.
func Clusters(ctx context.Context, cfg DirectoryConfig, log *slog.Logger) ([]astrobot.Cluster, error) {
	if cfg.Directory != "aws" {
		return cfg.File.Clusters, nil
	}
	discover, err := NewAWSDirectory(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	return discover.Discover(ctx)
}

// awsConfig loads the SDK's default configuration (credentials chain,
// AWS_ENDPOINT_URL) with region as the default region.
func awsConfig(ctx context.Context, region string, apiOptions ...func(*middleware.Stack) error) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{config.WithAPIOptions(apiOptions)}
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	c, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, &ConfigError{fmt.Errorf("AWS configuration: %w", err)}
	}
	return c, nil
}

func listen(addr, setting string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("%s: cannot listen on %s: %w", setting, addr, err)}
	}
	return ln, nil
}

// opsMux serves the operator endpoints: liveness, readiness, metrics and
// Go's profiles (the listener is loopback by default).
func opsMux(m *Metrics, ready *atomic.Bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// IsConfigError reports whether err is a configuration problem.
func IsConfigError(err error) bool {
	_, ok := errors.AsType[*ConfigError](err)
	return ok
}
