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
	file, err := cloud.LoadFile(cfg.ClustersPath)
	if err != nil {
		return &ConfigError{fmt.Errorf("ASTROBOT_CLUSTERS: %w", err)}
	}
	db, err := store.Open(cfg.DBPath, store.Options{Timeout: dbLockTimeout, Now: now})
	if err != nil {
		return &ConfigError{fmt.Errorf("ASTROBOT_DB: %w", err)}
	}
	defer db.Close()

	metrics := NewMetrics()
	metrics.RegisterState(db, now, log)
	api := slack.New(cfg.BotToken, slack.OptionAPIURL(cfg.APIURL), slack.OptionAppLevelToken(cfg.AppToken),
		slack.OptionHTTPClient(metrics.SlackHTTPClient()))
	auth, err := api.AuthTestContext(ctx)
	if err != nil {
		return fmt.Errorf("SLACK_BOT_TOKEN was refused by Slack (auth.test: %w); check the token and SLACK_API_URL", err)
	}
	log.Info("connected to Slack", "team", auth.TeamID, "bot_user", auth.UserID, "mode", cfg.Mode, "clusters", len(file.Clusters))

	dir, closeDir, err := directory(ctx, cfg, file, db, log, now, metrics)
	if err != nil {
		return err
	}
	defer closeDir()

	h := handlers.New(handlers.Config{
		Directory:      dir,
		Tenancy:        astrobot.NewTenancy(file.Organizations),
		Requests:       db,
		Support:        handlers.NewSupportTeam(cfg.SupportUsers, cfg.SupportGroup, api, supportGroupTTL, now, log),
		Slack:          api,
		SupportChannel: cfg.SupportChannel,
		Manual:         cfg.Peering == "manual",
		Now:            now,
		Logger:         log,
	})
	defer h.Close()
	d := newDispatcher(h, metrics, log, now)
	defer d.running.Wait()

	var ready atomic.Bool
	ops, err := listen(cfg.OpsAddr, "ASTROBOT_OPS_ADDR")
	if err != nil {
		return err
	}
	opsSrv := &http.Server{Handler: opsMux(metrics, &ready), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = opsSrv.Serve(ops) }()
	defer opsSrv.Close()

	admin, err := listen(cfg.AdminAddr, "ASTROBOT_ADMIN_ADDR")
	if err != nil {
		return err
	}
	adminSrv := &http.Server{Handler: adminMux(db), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = adminSrv.Serve(admin) }()
	defer adminSrv.Close()

	deliver := routed{slack: h}
	var watcher *Watcher
	if cfg.Peering == "aws" {
		awsCfg, err := awsConfig(ctx, "", metrics.AWSAPIOption)
		if err != nil {
			return err
		}
		watcher = NewWatcher(db, cloud.NewPeerings(awsCfg, cloud.PeeringOptions{Roles: cfg.AWSRoles, Logger: log, Now: now}), dir, cfg.WatchInterval, now, log)
		deliver.cleanup = watcher.Cleanup
	}
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	var workers sync.WaitGroup
	defer func() { stopWork(); workers.Wait() }()
	if watcher != nil {
		workers.Go(func() { watcher.Run(workCtx) })
	}
	workers.Go(func() { _ = NewOutboxWorker(db, deliver, now, log, metrics).Run(workCtx) })
	workers.Go(func() { NewReminderWorker(db, cfg.SLAs, now, log).Run(workCtx) })

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
		log.Info("serving Slack over HTTP", "addr", ln.Addr().String(), "path", "/slack/events", "ops", ops.Addr().String(), "admin", admin.Addr().String())
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
		client := socketmode.New(api)
		log.Info("serving Slack over Socket Mode", "ops", ops.Addr().String(), "admin", admin.Addr().String())
		if err := d.runSocket(ctx, client, func() { ready.Store(true) }); err != nil {
			return err
		}
		ready.Store(false)
	}
	log.Info("shutting down: finishing work in flight")
	return nil
}

// directory builds the cluster directory cfg asks for. The AWS directory is
// cached in the database and warmed up in the background at start.
func directory(ctx context.Context, cfg Config, file cloud.File, db *store.DB, log *slog.Logger, now func() time.Time, m *Metrics) (handlers.Directory, func(), error) {
	if cfg.Directory != "aws" {
		return cloud.NewStatic(file.Clusters), func() {}, nil
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
	file, err := cloud.LoadFile(cfg.ClustersPath)
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("ASTROBOT_CLUSTERS: %w", err)}
	}
	if cfg.Directory != "aws" {
		return file.Clusters, nil
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
