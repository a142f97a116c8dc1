package bot

import (
	"context"
	"io"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/astrobot-dev/astrobot"
)

// adminStub is an AdminStore holding one request and its events.
type adminStub struct {
	r      astrobot.Request
	events []astrobot.Event
}

func (s adminStub) RequestsByStatus(context.Context, []astrobot.Status, int) ([]astrobot.Request, error) {
	return []astrobot.Request{s.r}, nil
}

func (s adminStub) History(_ context.Context, id astrobot.RequestID) (astrobot.Request, []astrobot.Event, error) {
	if id != s.r.ID {
		return astrobot.Request{}, nil, astrobot.Errorf(astrobot.ENotFound, "No request %d.", id)
	}
	return s.r, s.events, nil
}

func (adminStub) Backup(_ context.Context, w io.Writer) (int64, error) {
	n, err := io.Copy(w, strings.NewReader("backup"))
	return n, err
}

// TestAdminRecordRoundTrip checks that the admin endpoint carries every field
// of a request: a field added to astrobot.Request fails here until its wire
// form (store.MarshalRequest) does, so the running bot and the file never
// show different requests.
func TestAdminRecordRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	r := astrobot.Request{ID: 42, Kind: astrobot.KindPeering, Status: astrobot.StatusPendingAcceptance,
		Requester: astrobot.Requester{UserID: "U1", TeamID: "T1", ChannelID: "C1"}, ClusterID: "clx1",
		Spec: astrobot.PeeringSpec{AccountID: "123456789012", Region: "us-east-1", VPCID: "vpc-0123abcd", CIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}},
		Note: "note", Warnings: []string{"w"}, Assignee: "S1", Resource: "pcx-0123abcd", ExpiresAt: at.Add(time.Hour),
		Details:   map[string]string{"accepter_cidrs": "10.1.0.0/16"},
		CreatedAt: at, UpdatedAt: at.Add(time.Minute), UpdatedBy: "S1", RemindedAt: at.Add(2 * time.Minute),
		Attempt: 2, LastAlert: "alert", Card: astrobot.MessageRef{Channel: "CSUPPORT", TS: "1.2"}}
	rv := reflect.ValueOf(r)
	for i := range rv.NumField() {
		if rv.Field(i).IsZero() {
			t.Fatalf("field %s of the test request is not set: set it above and carry it in the wire form", rv.Type().Field(i).Name)
		}
	}
	events := []astrobot.Event{{Seq: 0, At: at, Actor: "U1", Action: astrobot.ActSubmit, To: astrobot.StatusSubmitted, Note: "n"}}
	srv := httptest.NewServer(adminMux(adminStub{r: r, events: events}))
	t.Cleanup(srv.Close)
	c := NewAdminClient(strings.TrimPrefix(srv.URL, "http://"))
	opt := cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })

	gotR, gotE, err := c.History(testContext(t), r.ID)
	if err != nil {
		t.Fatalf("History through the admin endpoint: %v", err)
	}
	if diff := cmp.Diff(r, gotR, opt); diff != "" {
		t.Errorf("request through the admin endpoint (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(events, gotE); diff != "" {
		t.Errorf("events through the admin endpoint (-want +got):\n%s", diff)
	}

	list, err := c.RequestsByStatus(testContext(t), []astrobot.Status{astrobot.StatusPendingAcceptance}, 10)
	if err != nil {
		t.Fatalf("RequestsByStatus through the admin endpoint: %v", err)
	}
	if diff := cmp.Diff([]astrobot.Request{r}, list, opt); diff != "" {
		t.Errorf("request list through the admin endpoint (-want +got):\n%s", diff)
	}

	if _, _, err := c.History(testContext(t), r.ID+1); astrobot.ErrorCodeOf(err) != astrobot.ENotFound {
		t.Errorf("History of an unknown request = %v, want a not-found error", err)
	}
}
