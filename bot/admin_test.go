package bot

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/astrobot-dev/astrobot"
)

// TestAdminRecordRoundTrip checks that the admin endpoint carries every field
// of a request: a field added to astrobot.Request fails here until it does, so
// the running bot and the file never show different requests.
func TestAdminRecordRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	r := astrobot.Request{ID: 42, Kind: astrobot.KindPeering, Status: astrobot.StatusPendingAcceptance,
		Requester: astrobot.Requester{UserID: "U1", TeamID: "T1", ChannelID: "C1"}, ClusterID: "clx1",
		Peer: astrobot.Peer{AccountID: "123456789012", Region: "us-east-1", VPCID: "vpc-0123abcd", CIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}},
		Note: "note", Warnings: []string{"w"}, Assignee: "S1", PeeringID: "pcx-0123abcd", ExpiresAt: at.Add(time.Hour),
		CreatedAt: at, UpdatedAt: at.Add(time.Minute), UpdatedBy: "S1", RemindedAt: at.Add(2 * time.Minute),
		Attempt: 2, LastAlert: "alert", Card: astrobot.MessageRef{Channel: "CSUPPORT", TS: "1.2"}}
	rv := reflect.ValueOf(r)
	for i := range rv.NumField() {
		if rv.Field(i).IsZero() {
			t.Fatalf("field %s of the test request is not set: set it above and carry it in adminRequest", rv.Type().Field(i).Name)
		}
	}
	events := []astrobot.Event{{Seq: 0, At: at, Actor: "U1", Action: astrobot.ActSubmit, To: astrobot.StatusSubmitted, Note: "n"}}
	gotR, gotE := toAdmin(r, events).domain()
	opt := cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })
	if diff := cmp.Diff(r, gotR, opt); diff != "" {
		t.Errorf("request through the admin record (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(events, gotE); diff != "" {
		t.Errorf("events through the admin record (-want +got):\n%s", diff)
	}
}
