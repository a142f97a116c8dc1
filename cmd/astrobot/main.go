// Command astrobot runs the astrobot Slack app and its admin commands.
//
//	astrobot [serve]      run the bot (configured from the environment)
//	astrobot serve --help list every setting with its default
//	astrobot clusters …   clusters, straight from their source
//	astrobot requests …   stored requests, from the running bot or the file
//	astrobot backup FILE  a consistent copy of the database
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/astrobot-dev/astrobot/bot"
)

func main() {
	if os.Getenv("GOGC") == "" {
		// astrobot's heap is a few megabytes: collecting less often costs
		// little memory and takes the collector off the ack path (measured:
		// p99 of /astro-ip at 32 concurrent requests; see README, Performance).
		debug.SetGCPercent(400)
	}
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run executes one command line and returns the process exit code: 0 on
// success, 1 on a runtime failure, 2 on a usage or configuration problem.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(args, getenv, stdout, stderr)
	case "clusters":
		return clusters(args, getenv, stdout, stderr)
	case "requests":
		return requests(args, getenv, stdout, stderr)
	case "backup":
		return backup(args, getenv, stdout, stderr)
	case "help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "astrobot: unknown command %q\n\n", cmd)
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  astrobot [serve]          run the Slack bot (settings from the environment)
  astrobot serve --help     list every setting with its default
  astrobot clusters list    every cluster, from the clusters file or AWS (works while the bot runs)
  astrobot clusters show ID one cluster in full
  astrobot requests list [--status S] [--limit N]
                            stored requests (from the running bot, or the file when it is stopped)
  astrobot requests show PEER-0042
                            one request with its events
  astrobot backup FILE      a consistent copy of the database, hot or cold; restore by copying
                            it to ASTROBOT_DB while astrobot is stopped
  astrobot help             this help
`)
}

func serve(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help":
			serveHelp(stdout)
			return 0
		default:
			fmt.Fprintf(stderr, "astrobot serve: unknown argument %q: settings come from the environment; see astrobot serve --help\n", a)
			return 2
		}
	}
	cfg, err := bot.LoadConfig(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "astrobot: the configuration has problems:\n%s\n\nSee astrobot serve --help for every setting.\n", bullets(err))
		return 2
	}
	log := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := bot.Run(ctx, cfg, log, time.Now); err != nil {
		if bot.IsConfigError(err) {
			fmt.Fprintf(stderr, "astrobot: %s\n", bullets(err))
			return 2
		}
		log.Error("astrobot stopped", "err", err)
		return 1
	}
	log.Info("astrobot stopped")
	return 0
}

func serveHelp(w io.Writer) {
	fmt.Fprint(w, "astrobot serve runs the Slack bot. It is configured from the environment:\n\n")
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  VARIABLE\tDEFAULT\tMEANING")
	for _, s := range bot.Settings() {
		def := s.Default
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.Name, def, s.Help)
	}
	_ = tw.Flush()
	fmt.Fprint(w, "\nWith SLACK_APP_TOKEN set astrobot uses Socket Mode; otherwise SLACK_SIGNING_SECRET selects HTTP mode.\n")
}

// bullets prints each joined error on its own line.
func bullets(err error) string {
	var lines []string
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		for _, l := range strings.Split(e.Error(), "\n") {
			lines = append(lines, "  - "+l)
		}
	}
	var ce *bot.ConfigError
	if errors.As(err, &ce) {
		err = ce.Err
	}
	walk(err)
	return strings.Join(lines, "\n")
}

func newLogger(w io.Writer, level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
