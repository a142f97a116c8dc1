package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/bot"
	"github.com/astrobot-dev/astrobot/store"
)

// adminSource opens what the admin commands read: the database file when no
// bot holds it, else the running bot's loopback admin endpoint.
func adminSource(getenv func(string) string) (bot.AdminStore, func(), error) {
	path := bot.DBPath(getenv)
	if _, err := os.Stat(path); err != nil {
		return nil, nil, fmt.Errorf("no database at %s (set ASTROBOT_DB): %w", path, err)
	}
	db, err := store.Open(path, store.Options{Timeout: 300 * time.Millisecond})
	if _, inUse := errors.AsType[*store.InUseError](err); inUse {
		return bot.NewAdminClient(bot.AdminAddr(getenv)), func() {}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return db, func() { db.Close() }, nil
}

// requests runs `astrobot requests list [--status S] [--limit N]` and
// `astrobot requests show PEER-0042`.
func requests(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	usage := "usage: astrobot requests list [--status STATUS] [--limit N] | astrobot requests show PEER-0042"
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	switch args[0] {
	case "list":
		fs := flag.NewFlagSet("requests list", flag.ContinueOnError)
		fs.SetOutput(stderr)
		status := fs.String("status", "", "only requests in this status")
		limit := fs.Int("limit", 200, "at most this many (0: all)")
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
			fmt.Fprintln(stderr, usage)
			return 2
		}
		statuses := astrobot.Statuses()
		if *status != "" {
			statuses = []astrobot.Status{astrobot.Status(*status)}
			if !astrobot.Status(*status).Known() {
				fmt.Fprintf(stderr, "astrobot: unknown status %q: use one of %v\n", *status, astrobot.Statuses())
				return 2
			}
		}
		src, done, err := adminSource(getenv)
		if err != nil {
			fmt.Fprintf(stderr, "astrobot: %v\n", err)
			return 1
		}
		defer done()
		rs, err := src.RequestsByStatus(ctx, statuses, *limit)
		if err != nil {
			fmt.Fprintf(stderr, "astrobot: %v\n", err)
			return 1
		}
		tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKIND\tSTATUS\tREQUESTER\tCLUSTER\tFOR\tROUTES\tRESOURCE\tCREATED")
		for _, r := range rs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Ref(), r.Def().Slug(), r.Status, r.Requester.UserID, r.ClusterID,
				r.Spec.Key(), dash(strings.Join(astrobot.Strings(r.Spec.Routes()), ",")), dash(r.Resource), r.CreatedAt.UTC().Format(time.RFC3339))
		}
		_ = tw.Flush()
		return 0
	case "show":
		if len(args) != 2 {
			fmt.Fprintln(stderr, usage)
			return 2
		}
		id, err := astrobot.ParseRequestID(args[1])
		if err != nil {
			fmt.Fprintf(stderr, "astrobot: %s\n", astrobot.ErrorMessageOf(err))
			return 2
		}
		src, done, err := adminSource(getenv)
		if err != nil {
			fmt.Fprintf(stderr, "astrobot: %v\n", err)
			return 1
		}
		defer done()
		r, events, err := src.History(ctx, id)
		if err == nil && !r.Matches(args[1]) {
			err = astrobot.Errorf(astrobot.ENotFound, "no request %s", args[1]) // the number is a request of another kind
		}
		if astrobot.ErrorCodeOf(err) == astrobot.ENotFound {
			// The store knows no kind for a missing request: name it as typed.
			fmt.Fprintf(stderr, "astrobot: No request %s.\n", refAsTyped(args[1], id))
			return 1
		}
		if err != nil {
			fmt.Fprintf(stderr, "astrobot: %s\n", messageOf(err))
			return 1
		}
		fmt.Fprintf(stdout, "id:          %s\nkind:        %s\nstatus:      %s (%s acts next)\nrequester:   %s (team %s, channel %s)\ncluster:     %s\n",
			r.Ref(), r.Def().Title(), r.Status, r.Owner(), r.Requester.UserID, dash(r.Requester.TeamID), dash(r.Requester.ChannelID), r.ClusterID)
		for _, f := range r.Def().Facts(&r) {
			fmt.Fprintf(stdout, "%-12s %s\n", strings.ToLower(f.Label)+":", strings.Join(f.Values, ", "))
		}
		fmt.Fprintf(stdout, "resource:    %s\nassignee:    %s\nnote:        %s\ncreated:     %s\nupdated:     %s by %s\nevents:\n",
			dash(r.Resource), dash(r.Assignee), dash(r.Note), r.CreatedAt.UTC().Format(time.RFC3339), r.UpdatedAt.UTC().Format(time.RFC3339), r.UpdatedBy)
		for _, e := range events {
			fmt.Fprintf(stdout, "  %3d  %s  %-10s %-16s %s → %s  %s\n", e.Seq, e.At.UTC().Format(time.RFC3339), e.Actor, e.Action, dash(string(e.From)), e.To, e.Note)
		}
		return 0
	}
	fmt.Fprintln(stderr, usage)
	return 2
}

// backup runs `astrobot backup FILE`: a consistent copy of the database,
// taken from the running bot or from the file, written next to FILE and
// renamed into place once complete.
func backup(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, "usage: astrobot backup FILE")
		return 2
	}
	dst := args[0]
	src, done, err := adminSource(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "astrobot: %v\n", err)
		return 1
	}
	defer done()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".astrobot-backup-*")
	if err != nil {
		fmt.Fprintf(stderr, "astrobot: backup: %v\n", err)
		return 1
	}
	defer os.Remove(tmp.Name())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	n, err := src.Backup(ctx, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		fmt.Fprintf(stderr, "astrobot: backup: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes)\n", dst, n)
	return 0
}

// refAsTyped names request id as ref, a valid reference, was typed: with
// its kind's prefix (PEER-0042 for "peer-42") or as a bare number.
func refAsTyped(ref string, id astrobot.RequestID) string {
	if prefix, _, ok := strings.Cut(strings.TrimSpace(ref), "-"); ok {
		for _, d := range astrobot.Kinds() {
			if strings.EqualFold(d.Prefix(), prefix) {
				return astrobot.FormatID(d, id)
			}
		}
	}
	return strconv.FormatUint(uint64(id), 10)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func messageOf(err error) string {
	if astrobot.ErrorCodeOf(err) == astrobot.EInternal {
		return err.Error()
	}
	return astrobot.ErrorMessageOf(err)
}
