package astrobot

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Field names, the keys of Input and of Error.Fields. Every form has a
// cluster and a note; the others are shared by the kinds that ask for them.
const (
	FieldCluster = "cluster"
	FieldNote    = "note"
	FieldAccount = "account"
	FieldRegion  = "region"
	FieldVPC     = "vpc"
	FieldCIDRs   = "cidrs"
)

// MaxNoteLength bounds the free-text note of a request, in bytes.
const MaxNoteLength = 2000

// Regions returns the AWS commercial regions a customer VPC may be in, sorted.
func Regions() []string {
	return []string{
		"af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
		"ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
		"ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-central-1", "ca-west-1",
		"eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1",
		"eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "mx-central-1",
		"sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
	}
}

// NormalizeAccountID removes the dashes and spaces the AWS console shows in
// an account ID (1234-5678-9012).
func NormalizeAccountID(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
}

// ValidateAccountID checks a 12-digit AWS account ID.
func ValidateAccountID(s string) error {
	if len(s) != 12 || strings.Trim(s, "0123456789") != "" {
		return Errorf(EInvalid, "An AWS account ID is exactly 12 digits, like 123456789012; got %s.", Quote(s))
	}
	return nil
}

// ValidateRegion checks that s names a known AWS region.
func ValidateRegion(s string) error {
	if _, ok := slices.BinarySearch(Regions(), s); !ok {
		return Errorf(EInvalid, "%s is not an AWS region: use a region code such as us-east-1.", Quote(s))
	}
	return nil
}

// hexID reports whether s is prefix followed by 8 or 17 lowercase hex
// digits, as most EC2 resource IDs are.
func hexID(s, prefix string) bool {
	hex, ok := strings.CutPrefix(s, prefix)
	return ok && (len(hex) == 8 || len(hex) == 17) && strings.Trim(hex, "0123456789abcdef") == ""
}

// ValidateVPCID checks a VPC ID: "vpc-" and 8 or 17 lowercase hex digits.
func ValidateVPCID(s string) error {
	if !hexID(s, "vpc-") {
		return Errorf(EInvalid, "A VPC ID is vpc- followed by 8 or 17 hex digits, like vpc-0abc12345678def90; got %s.", Quote(s))
	}
	return nil
}

// ParseCIDR parses one customer VPC CIDR block and checks it: IPv4, no host
// bits set, a prefix from /16 to /28, in a private range. A block in the shared
// address space of RFC 6598 (100.64.0.0/10) is accepted with a warning.
func ParseCIDR(s string) (p netip.Prefix, warning string, err error) {
	p, perr := netip.ParsePrefix(strings.TrimSpace(s))
	switch {
	case perr != nil || !p.Addr().Is4():
		return netip.Prefix{}, "", Errorf(EInvalid, "%s is not an IPv4 CIDR block: write it like 10.20.0.0/16.", Quote(s))
	case p.Masked() != p:
		return netip.Prefix{}, "", Errorf(EInvalid, "%s has host bits set: did you mean %s?", p, p.Masked())
	case p.Bits() < 16 || p.Bits() > 28:
		return netip.Prefix{}, "", Errorf(EInvalid, "%s is a /%d: AWS VPC blocks are /16 to /28.", p, p.Bits())
	}
	rfc1918 := [...]netip.Prefix{
		netip.PrefixFrom(netip.AddrFrom4([4]byte{10}), 8),
		netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 16}), 12),
		netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168}), 16),
	}
	rfc6598 := netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 64}), 10)
	for _, r := range rfc1918 {
		if r.Contains(p.Addr()) && r.Bits() <= p.Bits() {
			return p, "", nil
		}
	}
	if rfc6598.Contains(p.Addr()) && rfc6598.Bits() <= p.Bits() {
		return p, fmt.Sprintf("%s is in the shared address space (RFC 6598); make sure nothing else on your side routes it.", p), nil
	}
	return netip.Prefix{}, "", Errorf(EInvalid, "%s is not a private range: use 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16 (RFC 1918).", p)
}

// ParseCIDRs parses a list of CIDR blocks separated by commas, spaces or new
// lines, checks each with ParseCIDR and checks that they do not overlap.
func ParseCIDRs(s string) (cidrs []netip.Prefix, warnings []string, err error) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' || r == ';' })
	if len(fields) == 0 {
		return nil, nil, Errorf(EInvalid, "Give at least one CIDR block of your VPC, like 10.20.0.0/16.")
	}
	const maxCIDRs = 5 // AWS allows a primary and four secondary IPv4 blocks by default
	if len(fields) > maxCIDRs {
		return nil, nil, Errorf(EInvalid, "Give at most %d CIDR blocks; you gave %d.", maxCIDRs, len(fields))
	}
	for _, f := range fields {
		p, w, err := ParseCIDR(f)
		if err != nil {
			return nil, nil, err
		}
		for _, q := range cidrs {
			if q.Overlaps(p) {
				return nil, nil, Errorf(EInvalid, "%s overlaps %s: list each block once.", p, q)
			}
		}
		cidrs = append(cidrs, p)
		if w != "" {
			warnings = append(warnings, w)
		}
	}
	return cidrs, warnings, nil
}

// Strings returns the text of each of xs.
func Strings[T fmt.Stringer](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = x.String()
	}
	return out
}

// CodeList writes values as inline code, separated by commas: `10.0.0.0/16`,
// `10.1.0.0/16`. It is the one way lists of CIDRs and IPs are written.
func CodeList(values []string) string {
	s := make([]string, len(values))
	for i, v := range values {
		s[i] = "`" + v + "`"
	}
	return strings.Join(s, ", ")
}
