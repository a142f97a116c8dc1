package astrobot

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// checkInvalid fails t unless err is an *Error with code EInvalid whose message
// is a readable sentence: non-empty, valid UTF-8 (it goes to Slack as JSON) and
// ending like one. When quoted is not empty the message must quote it, so the
// user sees what they typed.
func checkInvalid(t *testing.T, what string, err error, quoted string) {
	t.Helper()
	e, ok := errors.AsType[*Error](err)
	if !ok {
		t.Fatalf("%s: error %T %v, want *astrobot.Error", what, err, err)
	}
	if e.Code != EInvalid {
		t.Errorf("%s: code %q, want %q", what, e.Code, EInvalid)
	}
	if e.Message == "" || !utf8.ValidString(e.Message) || !strings.ContainsAny(e.Message[len(e.Message)-1:], ".?") {
		t.Errorf("%s: message %q is not a sentence a user can read", what, e.Message)
	}
	if quoted != "" && !strings.Contains(e.Message, Quote(quoted)) {
		t.Errorf("%s: message %q does not quote the input %q", what, e.Message, quoted)
	}
}

// privateRange names the range a /16-or-longer IPv4 prefix starting at a lies
// in: "rfc1918", "rfc6598" or "" for public space. It is written with byte
// arithmetic, independently of ParseCIDR's netip.Prefix checks.
func privateRange(a [4]byte) string {
	switch {
	case a[0] == 10, a[0] == 172 && a[1]&0xf0 == 16, a[0] == 192 && a[1] == 168:
		return "rfc1918"
	case a[0] == 100 && a[1]&0xc0 == 64:
		return "rfc6598"
	}
	return ""
}

// span returns the first and last address of an IPv4 prefix as integers.
func span(p netip.Prefix) (first, last uint32) {
	a := p.Addr().As4()
	first = uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	return first, first | (1<<(32-p.Bits()) - 1)
}

func FuzzParseCIDRs(f *testing.F) {
	for _, s := range []string{
		"10.20.0.0/16",
		"10.20.0.0/16, 192.168.0.0/20\n172.16.0.0/12",
		"172.16.0.0/16;172.31.255.240/28\t192.168.1.0/24",
		"100.64.0.0/16, 100.127.255.0/24", // RFC 6598: warnings
		"10.0.0.0/16,10.0.128.0/17",       // overlap
		"10.0.0.1/16",                     // host bits
		"10.0.0.0/8",                      // too wide
		"10.0.0.0/29",                     // too narrow
		"8.8.0.0/16",                      // public
		"172.32.0.0/16",                   // just past 172.16.0.0/12
		"100.128.0.0/16",                  // just past 100.64.0.0/10
		"::ffff:10.0.0.0/112",             // IPv4-mapped IPv6
		"fd00::/48",                       // IPv6
		"010.0.0.0/16",                    // leading zero
		"10.0.0.0/016",                    // leading zero in the bits
		"10.0.0.0 /16",                    // split by a space
		"\u00a010.1.0.0/16\u2028",         // Unicode spaces around a block
		"10.1.0.0/16,10.2.0.0/16,10.3.0.0/16,10.4.0.0/16,10.5.0.0/16,10.6.0.0/16", // six
		"", " , ;\n", "\xff", "10.0.0.0/16\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cidrs, warnings, err := ParseCIDRs(s)
		if err != nil {
			if cidrs != nil || warnings != nil {
				t.Errorf("ParseCIDRs(%q) failed but returned %v, %v", s, cidrs, warnings)
			}
			checkInvalid(t, "ParseCIDRs("+strconv.Quote(s)+")", err, "")
			return
		}
		if len(cidrs) == 0 || len(cidrs) > 5 {
			t.Fatalf("ParseCIDRs(%q) = %d blocks, want 1 to 5", s, len(cidrs))
		}
		shared := 0
		for i, p := range cidrs {
			if !p.Addr().Is4() || p != p.Masked() || p.Bits() < 16 || p.Bits() > 28 {
				t.Errorf("ParseCIDRs(%q)[%d] = %s: want a masked IPv4 /16 to /28", s, i, p)
			}
			switch privateRange(p.Addr().As4()) {
			case "rfc1918":
			case "rfc6598":
				shared++
				if !slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, p.String()) }) {
					t.Errorf("ParseCIDRs(%q): %s is in RFC 6598 space but no warning names it: %q", s, p, warnings)
				}
			default:
				t.Errorf("ParseCIDRs(%q)[%d] = %s, a public range", s, i, p)
			}
			pf, pl := span(p)
			for _, q := range cidrs[:i] {
				if qf, ql := span(q); pf <= ql && qf <= pl {
					t.Errorf("ParseCIDRs(%q): %s and %s overlap", s, q, p)
				}
			}
		}
		if len(warnings) != shared {
			t.Errorf("ParseCIDRs(%q): %d warnings %q for %d RFC 6598 blocks", s, len(warnings), warnings, shared)
		}

		canon := make([]string, len(cidrs))
		for i, p := range cidrs {
			canon[i] = p.String()
		}
		again, warnings2, err := ParseCIDRs(strings.Join(canon, ","))
		if err != nil {
			t.Fatalf("ParseCIDRs(%q) = %v, but its canonical form %q fails: %v", s, cidrs, strings.Join(canon, ","), err)
		}
		if !slices.Equal(again, cidrs) || !slices.Equal(warnings2, warnings) {
			t.Errorf("ParseCIDRs(%q) = %v %q, but its canonical form gives %v %q", s, cidrs, warnings, again, warnings2)
		}
	})
}

// Oracles of the ID validators, written as regular expressions.
var (
	accountRE = regexp.MustCompile(`^[0-9]{12}$`)
	vpcRE     = regexp.MustCompile(`^vpc-(?:[0-9a-f]{8}|[0-9a-f]{17})$`)
	pcxRE     = regexp.MustCompile(`^pcx-(?:[0-9a-f]{8}|[0-9a-f]{17})$`)
)

func FuzzValidateIDs(f *testing.F) {
	if !slices.IsSorted(Regions()) {
		f.Fatalf("Regions() is not sorted; ValidateRegion searches it: %q", Regions())
	}
	f.Add("123456789012", "vpc-0abc12345678def90", "us-east-1", "pcx-0abc12345678def90")
	f.Add("12345678901", "vpc-1234abcd", "eu-west-3", "pcx-1234abcd")
	f.Add("1234567890123", "vpc-1234ABCD", "US-EAST-1", "pcx-1234ABCD")
	f.Add("1234-5678-9012", "vpc-", "us-east-1 ", "vpc-1234abcd")
	f.Add("12345678901\n", "vpc-1234abcd\n", "us-gov-west-1", "pcx-1234abc")
	f.Add("١٢٣٤٥٦٧٨٩٠١٢", "vpc-0abc12345678def9g", "", "pcx-0abc12345678def900")
	f.Add("+12345678901", "VPC-1234abcd", "af-south-1\x00", "pcx-vpc-1234abcd")
	f.Add("", "vpc-vpc-1234ab", "zz-last-9", "pcx-\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8")
	f.Fuzz(func(t *testing.T, account, vpc, region, pcx string) {
		check := func(what, input string, want bool, err error) {
			t.Helper()
			switch {
			case want && err != nil:
				t.Errorf("%s(%q) = %v, want ok", what, input, err)
			case !want && err == nil:
				t.Errorf("%s(%q) accepted it", what, input)
			case !want:
				checkInvalid(t, what+"("+strconv.Quote(input)+")", err, input)
			}
		}
		check("ValidateAccountID", account, accountRE.MatchString(account), ValidateAccountID(account))
		check("ValidateVPCID", vpc, vpcRE.MatchString(vpc), ValidateVPCID(vpc))
		check("ValidatePeeringID", pcx, pcxRE.MatchString(pcx), ValidatePeeringID(pcx))
		check("ValidateRegion", region, slices.Contains(Regions(), region), ValidateRegion(region))
	})
}

// requestIDRE matches what ParseRequestID accepts once spaces are trimmed:
// the prefix of any kind in either case of ASCII letters, or none, leaving the
// range check to fitsUint64.
func requestIDRE() *regexp.Regexp {
	var alts []string
	for _, d := range Kinds() {
		var p strings.Builder
		for _, c := range d.Prefix() {
			fmt.Fprintf(&p, "[%c%c]", unicode.ToUpper(c), unicode.ToLower(c))
		}
		alts = append(alts, p.String())
	}
	return regexp.MustCompile(`^(?:(?:` + strings.Join(alts, "|") + `)-)?0*([1-9][0-9]*)$`)
}

// fitsUint64 reports whether digits, a decimal number without leading zeros,
// is at most the largest uint64.
func fitsUint64(digits string) bool {
	const largest = "18446744073709551615"
	return len(digits) < len(largest) || len(digits) == len(largest) && digits <= largest
}

func FuzzParseRequestID(f *testing.F) {
	for _, s := range []string{
		"PEER-0042", "peer-42", "42", " Peer-7 \n", "PEER-0", "0", "PEER-", "-1", "+1", "1_000",
		"PEER-18446744073709551615", "18446744073709551616", "PEER-PEER-1", "PEER 1", "\u00a042\u00a0",
		"ＰＥＥＲ-1", "PEER-١", "0x2a", "peer-0000000000000000000000000001", "QUUX-12", "PEEK-1", "-1",
	} {
		f.Add(s)
	}
	re := requestIDRE()
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseRequestID(s)
		m := re.FindStringSubmatch(strings.TrimSpace(s))
		want := m != nil && fitsUint64(m[1])
		if err != nil {
			if want {
				t.Errorf("ParseRequestID(%q) = %v, want an ID", s, err)
			}
			checkInvalid(t, "ParseRequestID("+strconv.Quote(s)+")", err, s)
			return
		}
		if !want {
			t.Errorf("ParseRequestID(%q) = %d, want an error", s, id)
		}
		if id == 0 {
			t.Fatalf("ParseRequestID(%q) = 0 without an error", s)
		}
		if m != nil && strconv.FormatUint(uint64(id), 10) != m[1] {
			t.Errorf("ParseRequestID(%q) = %d, want %s", s, id, m[1])
		}
		forms := []string{strconv.FormatUint(uint64(id), 10)}
		for _, d := range Kinds() {
			forms = append(forms, FormatID(d, id), strings.ToLower(FormatID(d, id)))
		}
		for _, form := range forms {
			if again, err := ParseRequestID(form); err != nil || again != id {
				t.Errorf("ParseRequestID(%q) = %d, but ParseRequestID(%q) = %d, %v", s, id, form, again, err)
			}
		}
	})
}
