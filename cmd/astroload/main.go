// Command astroload sends signed Slack requests to a running astrobot in HTTP
// mode and prints the throughput and latency it measured:
//
//	astroload [-url http://127.0.0.1:3000/slack/events] [-secret S] [-c 32] [-n 20000] [-d 30s]
//	          [-scenario ip|peer-submit|claim] [-requests N] [-text clx123abc] [-team T0001] [-user U0001]
//	          [-channel C0001] [-pool 172.16.0.0/12]
//	astroload fake-slack   serve a fake Slack Web API for the bot under load; prints its SLACK_API_URL
//
// The signing secret comes from -secret or SLACK_SIGNING_SECRET. It stops after
// -n requests or -d, whichever comes first, and never runs longer than ten
// minutes. It only talks to loopback addresses. Requests still in flight when
// -d ends are neither counted nor measured, though astrobot may have handled
// them.
//
// Scenario ip sends the slash command "/astro-ip <text>". Scenario peer-submit
// sends view_submission payloads of the peering form for cluster <text>, each
// with its own view ID, VPC ID and /28 CIDR block carved from -pool, so that
// every one is filed: run it against a fresh database.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/bot"
	"github.com/astrobot-dev/astrobot/handlers"
	"github.com/astrobot-dev/astrobot/internal/fakeslack"
	"github.com/slack-go/slack"
)

// maxDuration is the hard cap on a run.
const maxDuration = 10 * time.Minute

// peerBlockBits is the prefix length of the CIDR blocks peer-submit files.
const peerBlockBits = 28

// Fixed fields of the peer-submit scenario.
const (
	peerAccount = "123456789012"
	peerRegion  = "us-east-1"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	var code int
	if len(os.Args) == 2 && os.Args[1] == "fake-slack" {
		code = fakeSlack(ctx, os.Stdout)
	} else {
		code = run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	}
	stop()
	os.Exit(code)
}

// fakeSlack serves the project's fake Slack Web API (internal/fakeslack) on
// loopback until ctx ends, so that a bot under load has a Slack to talk to.
// It prints the SLACK_API_URL to give the bot.
func fakeSlack(ctx context.Context, stdout io.Writer) int {
	srv := fakeslack.New()
	defer srv.Close()
	fmt.Fprintf(stdout, "SLACK_API_URL=%s\n", srv.APIURL())
	<-ctx.Done()
	return 0
}

// run executes one command line and returns the exit code: 0 when every
// request succeeded, 1 when some failed, 2 on a usage problem.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("astroload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("url", "http://127.0.0.1:3000/slack/events", "astrobot's `URL` of POST /slack/events (loopback only)")
	secret := fs.String("secret", "", "Slack signing `secret` (default: $SLACK_SIGNING_SECRET)")
	conc := fs.Int("c", 32, "concurrent requests")
	total := fs.Int("n", 20000, "total requests (0: until -d ends)")
	dur := fs.Duration("d", 0, "stop after this `duration` (0: after -n requests; at most 10m)")
	name := fs.String("scenario", "ip", "what to send: ip, peer-submit or claim (button clicks)")
	requests := fs.Int("requests", 1000, "claim: press Claim on requests PEER-0001 to PEER-<requests>, round robin (the -user must be support)")
	text := fs.String("text", "clx123abc", "the command's text; for peer-submit, the cluster or a comma-separated list of clusters")
	team := fs.String("team", "T0001", "Slack team ID of the caller")
	user := fs.String("user", "U0001", "Slack user ID of the caller")
	channel := fs.String("channel", "C0001", "Slack channel ID of the caller")
	pool := fs.String("pool", "172.16.0.0/12", "peer-submit: private `CIDR` to carve the /28 blocks from; it must not overlap the cluster's VPC")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "astroload: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return usage("unexpected argument %q: every setting is a flag; see astroload -h", fs.Arg(0))
	}
	if err := checkLoopback(*target); err != nil {
		return usage("%v", err)
	}
	if *secret == "" {
		*secret = getenv("SLACK_SIGNING_SECRET")
	}
	if *secret == "" {
		return usage("no signing secret: pass -secret or set SLACK_SIGNING_SECRET to astrobot's")
	}
	switch {
	case *conc < 1:
		return usage("-c is %d: give at least 1 concurrent request", *conc)
	case *total < 0:
		return usage("-n is %d: give a number of requests, or 0 to run for -d", *total)
	case *dur < 0 || *dur > maxDuration:
		return usage("-d is %s: give a duration up to %s", *dur, maxDuration)
	case *total == 0 && *dur == 0:
		return usage("-n and -d are both 0: give a number of requests, a duration, or both")
	}
	caller := callerIDs{team: *team, user: *user, channel: *channel}
	var sc scenario
	switch *name {
	case "ip":
		sc = ipScenario(*text, caller)
	case "claim":
		sc = claimScenario(caller, *requests)
	case "peer-submit":
		p, err := netip.ParsePrefix(*pool)
		if err != nil || !p.Addr().Is4() || p.Masked() != p || p.Bits() > peerBlockBits {
			return usage("-pool %q is not an IPv4 CIDR block of /%d or larger without host bits, like 172.16.0.0/12", *pool, peerBlockBits)
		}
		var nonce [4]byte
		_, _ = rand.Read(nonce[:])
		sc = peerScenario(*text, caller, p, binary.BigEndian.Uint32(nonce[:]))
		if *total > sc.max {
			fmt.Fprintf(stderr, "astroload: -pool %s holds %d /%d blocks: sending at most %d requests\n", p, sc.max, peerBlockBits, sc.max)
		}
		if *total == 0 || *total > sc.max {
			*total = sc.max
		}
	default:
		return usage("unknown -scenario %q: use ip, peer-submit or claim", *name)
	}

	limit := maxDuration
	if *dur > 0 {
		limit = *dur
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	client := &http.Client{
		Transport: &http.Transport{MaxIdleConns: *conc, MaxIdleConnsPerHost: *conc, IdleConnTimeout: 30 * time.Second},
		Timeout:   30 * time.Second,
	}
	defer client.CloseIdleConnections()
	rep := load(ctx, client, *target, *secret, *conc, *total, sc, time.Now)
	fmt.Fprintln(stdout, rep.summary(*name, *conc))
	if rep.firstFailure != "" {
		fmt.Fprintf(stderr, "astroload: first failure: %s\n", rep.firstFailure)
	}
	if rep.errors > 0 {
		return 1
	}
	return 0
}

// checkLoopback refuses a target that is not an http(s) URL on a loopback
// host: the tool is for load-testing one's own astrobot, nothing else.
func checkLoopback(target string) error {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("-url %q is not an http:// or https:// URL, like http://127.0.0.1:3000/slack/events", target)
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if a, err := netip.ParseAddr(host); err == nil && a.Unmap().IsLoopback() {
		return nil
	}
	return fmt.Errorf("-url host %q is not a loopback address: astroload only targets an astrobot on this machine (127.0.0.0/8, ::1 or localhost)", host)
}

// callerIDs is who sends the requests.
type callerIDs struct {
	team, user, channel string
}

// scenario is a kind of request the tool sends.
type scenario struct {
	// request returns the content type and body of the i-th request.
	request func(i int) (contentType string, body []byte, err error)
	// check returns nil when a 200 answer is a success.
	check func(body []byte) error
	// max is the number of distinct requests the scenario can make; 0 means
	// no limit.
	max int
}

// ipScenario sends "/astro-ip text" as Slack posts a slash command.
func ipScenario(text string, c callerIDs) scenario {
	body := []byte(url.Values{
		"command": {handlers.CommandIP}, "text": {text},
		"team_id": {c.team}, "user_id": {c.user}, "channel_id": {c.channel},
	}.Encode())
	return scenario{
		request: func(int) (string, []byte, error) { return "application/x-www-form-urlencoded", body, nil },
		check:   func([]byte) error { return nil },
	}
}

// claimScenario presses the Claim button of the support card as -user, on
// requests 1 to n in turn: the first press of each moves it, later ones are
// refused (already claimed by you) with a message only the presser sees. Both
// are answered with an empty 200.
func claimScenario(c callerIDs, n int) scenario {
	peering, _ := astrobot.KindOf(astrobot.KindPeering)
	return scenario{
		request: func(i int) (string, []byte, error) {
			payload, err := json.Marshal(map[string]any{
				"type": "block_actions", "trigger_id": fmt.Sprintf("load-%d", i),
				"user": map[string]string{"id": c.user, "team_id": c.team}, "team": map[string]string{"id": c.team},
				"channel": map[string]string{"id": c.channel},
				"actions": []map[string]string{{"type": "button", "action_id": handlers.ActionButton(astrobot.ActClaim), "block_id": handlers.BlockCardActions,
					"value": astrobot.FormatID(peering, astrobot.RequestID(i%max(n, 1)+1))}},
			})
			if err != nil {
				return "", nil, fmt.Errorf("encode block_actions: %w", err)
			}
			return "application/x-www-form-urlencoded", []byte(url.Values{"payload": {string(payload)}}.Encode()), nil
		},
		check: func(body []byte) error {
			if len(bytes.TrimSpace(body)) != 0 {
				return fmt.Errorf("a button press is acked empty; got %q", body)
			}
			return nil
		},
	}
}

// peerScenario submits the peering form for cluster (a comma-separated list
// is used round robin): request i carries the
// view ID and VPC ID made of nonce and i, and the i-th /28 block of pool.
func peerScenario(cluster string, c callerIDs, pool netip.Prefix, nonce uint32) scenario {
	// The channel the modal was opened in, and the form's kind.
	meta, _ := json.Marshal(map[string]string{"c": c.channel, "k": string(astrobot.KindPeering)})
	clusters := strings.Split(cluster, ",") // filed round robin: AWS caps peerings per VPC
	base := binary.BigEndian.Uint32(pool.Addr().AsSlice())
	return scenario{
		request: func(i int) (string, []byte, error) {
			var a [4]byte
			binary.BigEndian.PutUint32(a[:], base+uint32(i)<<(32-peerBlockBits))
			cidr := netip.PrefixFrom(netip.AddrFrom4(a), peerBlockBits).String()
			cb := peerSubmission(clusters[i%len(clusters)], c, string(meta),
				fmt.Sprintf("VLOAD%08X%09X", nonce, i), fmt.Sprintf("vpc-%08x%09x", nonce, i), cidr)
			payload, err := json.Marshal(&cb)
			if err != nil {
				return "", nil, fmt.Errorf("encode view_submission: %w", err)
			}
			return "application/x-www-form-urlencoded", []byte(url.Values{"payload": {string(payload)}}.Encode()), nil
		},
		check: func(body []byte) error {
			var ack struct {
				Action string            `json:"response_action"`
				Errors map[string]string `json:"errors"`
			}
			if err := json.Unmarshal(body, &ack); err != nil {
				return fmt.Errorf("the ack is not JSON: %w", err)
			}
			if ack.Action != string(slack.RAUpdate) {
				return fmt.Errorf("the submission was not filed: response_action %q, errors %v", ack.Action, ack.Errors)
			}
			return nil
		},
		max: 1 << (peerBlockBits - pool.Bits()),
	}
}

// peerSubmission is the view_submission Slack sends when the peering form
// (handlers.CallbackRequest of kind vpc_peering) is submitted with the given
// view ID, VPC and CIDR.
func peerSubmission(cluster string, c callerIDs, meta, viewID, vpc, cidr string) slack.InteractionCallback {
	input := func(field string, a slack.BlockAction) map[string]slack.BlockAction {
		a.BlockID, a.ActionID = handlers.FieldBlock(field), handlers.FieldAction(field)
		return map[string]slack.BlockAction{a.ActionID: a}
	}
	return slack.InteractionCallback{
		Type: slack.InteractionTypeViewSubmission,
		Team: slack.Team{ID: c.team},
		User: slack.User{ID: c.user, TeamID: c.team},
		View: slack.View{
			ID: viewID, TeamID: c.team, Type: slack.VTModal, CallbackID: handlers.CallbackRequest,
			PrivateMetadata: meta,
			State: &slack.ViewState{Values: map[string]map[string]slack.BlockAction{
				handlers.FieldBlock(astrobot.FieldCluster): input(astrobot.FieldCluster, slack.BlockAction{Type: "static_select",
					SelectedOption: slack.OptionBlockObject{Value: cluster}}),
				handlers.FieldBlock(astrobot.FieldAccount): input(astrobot.FieldAccount, slack.BlockAction{Type: "plain_text_input", Value: peerAccount}),
				handlers.FieldBlock(astrobot.FieldRegion): input(astrobot.FieldRegion, slack.BlockAction{Type: "static_select",
					SelectedOption: slack.OptionBlockObject{Value: peerRegion}}),
				handlers.FieldBlock(astrobot.FieldVPC):   input(astrobot.FieldVPC, slack.BlockAction{Type: "plain_text_input", Value: vpc}),
				handlers.FieldBlock(astrobot.FieldCIDRs): input(astrobot.FieldCIDRs, slack.BlockAction{Type: "plain_text_input", Value: cidr}),
				handlers.FieldBlock(astrobot.FieldNote):  input(astrobot.FieldNote, slack.BlockAction{Type: "plain_text_input", Value: "astroload"}),
			}},
		},
	}
}

// report is what a run measured.
type report struct {
	requests     int             // requests answered or failed
	errors       int             // transport failures, non-200 answers and failed checks
	elapsed      time.Duration   // from the first request sent to the last answer
	latencies    []time.Duration // of every request, sorted
	firstFailure string
}

// load sends up to n requests of sc to target from conc workers until ctx ends,
// signing each with secret at the time it is sent, and measures them with now.
func load(ctx context.Context, client *http.Client, target, secret string, conc, n int, sc scenario, now func() time.Time) report {
	var (
		next     atomic.Int64
		mu       sync.Mutex
		rep      report
		failOnce sync.Once
		wg       sync.WaitGroup
	)
	fail := func(i int, err error) {
		failOnce.Do(func() { rep.firstFailure = fmt.Sprintf("request %d: %v", i, err) })
	}
	start := now()
	for range conc {
		wg.Go(func() {
			var lat []time.Duration
			errs := 0
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if n > 0 && i >= n {
					break
				}
				t0 := now()
				err := send(ctx, client, target, secret, sc, i, now)
				if ctx.Err() != nil && err != nil {
					break // cut short by the end of the run: neither answered nor failed
				}
				lat = append(lat, now().Sub(t0))
				if err != nil {
					errs++
					fail(i, err)
				}
			}
			mu.Lock()
			rep.latencies = append(rep.latencies, lat...)
			rep.errors += errs
			mu.Unlock()
		})
	}
	wg.Wait()
	rep.elapsed = now().Sub(start)
	rep.requests = len(rep.latencies)
	slices.Sort(rep.latencies)
	return rep
}

// send sends the i-th request of sc and checks its answer.
func send(ctx context.Context, client *http.Client, target, secret string, sc scenario, i int, now func() time.Time) error {
	ctype, body, err := sc.request(i)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header = bot.Sign(secret, now(), body)
	req.Header.Set("Content-Type", ctype)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(answer)))
	}
	return sc.check(answer)
}

// percentile returns the p-th percentile (0 < p ≤ 100) of sorted by the
// nearest-rank method: the smallest value with at least p% of the values at
// or below it. It returns 0 for no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// The epsilon keeps a rank such as 99.9% of 1000 at 999 despite 99.9
	// having no exact binary form.
	rank := int(math.Ceil(p/100*float64(len(sorted)) - 1e-9))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// summary is the one line a run prints.
func (r report) summary(name string, conc int) string {
	rate := 0.0
	if r.elapsed > 0 {
		rate = float64(r.requests) / r.elapsed.Seconds()
	}
	maxLat := time.Duration(0)
	if len(r.latencies) > 0 {
		maxLat = r.latencies[len(r.latencies)-1]
	}
	return fmt.Sprintf("%s: %d requests, %d concurrent, %.0f req/s, p50 %s p90 %s p99 %s max %s, errors %d",
		name, r.requests, conc, rate, ms(percentile(r.latencies, 50)), ms(percentile(r.latencies, 90)),
		ms(percentile(r.latencies, 99)), ms(maxLat), r.errors)
}

// ms formats d in milliseconds with two decimals, like 1.23ms.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}
