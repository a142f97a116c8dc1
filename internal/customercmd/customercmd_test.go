package customercmd

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
	"mvdan.cc/sh/v3/syntax"

	"github.com/astrobot-dev/astrobot"
)

// The tables below say what the tests accept. A kind whose instructions use
// an AWS CLI subcommand or a Terraform resource type missing from them fails
// the test with its name: the transit gateway, PrivateLink and private hosted
// zone kinds, and any kind after them, add their rows here.
//
//   - subcommands: from the SYNOPSIS of `aws <service> <subcommand> help`
//     (aws-cli 1.45): the flags the subcommand requires, the ones it allows
//     besides (the CLI's generic --cli-input-json, --generate-cli-skeleton
//     and debugging options left out), and the groups of which exactly one
//     flag must be given, from the API reference.
//   - flagValues: how many values a flag takes and their format.
//   - resources: from `terraform providers schema -json` with the AWS
//     provider 5.100.0: each type's required and optional arguments with
//     their types, its nested blocks, the attributes other resources may
//     reference, and the groups of which exactly one argument must be set.
//   - argValues: the format of Terraform arguments naming AWS things.

// subcommand is one row of the AWS CLI table.
type subcommand struct {
	required   []string   // flags that must be given
	optional   []string   // flags that may be given besides
	exactlyOne [][]string // groups of flags of which exactly one is given
	// when lists, for a flag, groups of which exactly one must be given too
	// when the flag is.
	when map[string][][]string
}

// regional marks a subcommand of a regional service: astrobot's commands
// always say --region, since the customer's default region may be another.
var regional = []string{"--region"}

// globalFlags are the AWS CLI's own options a customer's command may carry.
var globalFlags = []string{"--profile", "--output"}

var dryRun = []string{"--dry-run", "--no-dry-run"}

// subcommands is the AWS CLI table: "service subcommand" → its flags.
var subcommands = map[string]subcommand{
	// VPC peering.
	"ec2 accept-vpc-peering-connection": {
		required: append([]string{"--vpc-peering-connection-id"}, regional...),
		optional: dryRun,
	},
	"ec2 create-route": {
		required: append([]string{"--route-table-id"}, regional...),
		optional: append([]string{"--destination-cidr-block", "--destination-ipv6-cidr-block", "--destination-prefix-list-id",
			"--vpc-peering-connection-id", "--transit-gateway-id", "--gateway-id", "--nat-gateway-id", "--vpc-endpoint-id",
			"--local-gateway-id", "--carrier-gateway-id", "--core-network-arn", "--odb-network-arn", "--egress-only-internet-gateway-id",
			"--instance-id", "--network-interface-id"}, dryRun...),
		exactlyOne: [][]string{
			{"--destination-cidr-block", "--destination-ipv6-cidr-block", "--destination-prefix-list-id"},
			{"--vpc-peering-connection-id", "--transit-gateway-id", "--gateway-id", "--nat-gateway-id", "--vpc-endpoint-id",
				"--local-gateway-id", "--carrier-gateway-id", "--core-network-arn", "--odb-network-arn", "--egress-only-internet-gateway-id",
				"--instance-id", "--network-interface-id"},
		},
	},
	"ec2 authorize-security-group-ingress": {
		required: regional,
		optional: append([]string{"--group-id", "--group-name", "--ip-permissions", "--tag-specifications",
			"--protocol", "--port", "--cidr", "--source-group", "--group-owner"}, dryRun...),
		exactlyOne: [][]string{{"--group-id", "--group-name"}, {"--ip-permissions", "--protocol"}},
		when: map[string][][]string{
			"--protocol": {{"--cidr", "--source-group"}, {"--port"}},
		},
	},
	"ec2 describe-route-tables": {
		required: regional,
		optional: append([]string{"--filters", "--route-table-ids", "--starting-token", "--page-size", "--max-items", "--query"}, dryRun...),
	},
	"ec2 modify-vpc-attribute": {
		required: append([]string{"--vpc-id"}, regional...),
		optional: []string{"--enable-dns-support", "--no-enable-dns-support", "--enable-dns-hostnames", "--no-enable-dns-hostnames",
			"--enable-network-address-usage-metrics", "--no-enable-network-address-usage-metrics"},
		// "You cannot modify the DNS resolution and DNS hostnames attributes
		// in the same request."
		exactlyOne: [][]string{{"--enable-dns-support", "--no-enable-dns-support", "--enable-dns-hostnames", "--no-enable-dns-hostnames",
			"--enable-network-address-usage-metrics", "--no-enable-network-address-usage-metrics"}},
	},
	"ec2 modify-vpc-peering-connection-options": {
		required: append([]string{"--vpc-peering-connection-id"}, regional...),
		optional: append([]string{"--accepter-peering-connection-options", "--requester-peering-connection-options"}, dryRun...),
		// Each side sets its own options, in its own region.
		exactlyOne: [][]string{{"--accepter-peering-connection-options", "--requester-peering-connection-options"}},
	},
	"route53 create-vpc-association-authorization": {
		required: []string{"--hosted-zone-id", "--vpc"}, // Route 53 is global
	},

	// Private hosted zones.
	"route53 delete-vpc-association-authorization": {
		required: []string{"--hosted-zone-id", "--vpc"},
	},

	// PrivateLink.
	"ec2 modify-vpc-endpoint-service-permissions": {
		required:   append([]string{"--service-id"}, regional...),
		optional:   append([]string{"--add-allowed-principals", "--remove-allowed-principals"}, dryRun...),
		exactlyOne: [][]string{{"--add-allowed-principals", "--remove-allowed-principals"}},
	},
	"ec2 modify-vpc-endpoint-service-configuration": {
		required: append([]string{"--service-id"}, regional...),
		optional: append([]string{"--private-dns-name", "--remove-private-dns-name", "--no-remove-private-dns-name",
			"--acceptance-required", "--no-acceptance-required", "--add-network-load-balancer-arns", "--remove-network-load-balancer-arns",
			"--add-gateway-load-balancer-arns", "--remove-gateway-load-balancer-arns", "--add-supported-ip-address-types",
			"--remove-supported-ip-address-types", "--add-supported-regions", "--remove-supported-regions"}, dryRun...),
	},
	"ec2 accept-vpc-endpoint-connections": {
		required: append([]string{"--service-id", "--vpc-endpoint-ids"}, regional...),
		optional: dryRun,
	},
	"ec2 describe-vpc-endpoint-connections": {
		required: regional,
		optional: append([]string{"--filters", "--starting-token", "--page-size", "--max-items", "--query"}, dryRun...),
	},
	"ec2 start-vpc-endpoint-service-private-dns-verification": {
		required: append([]string{"--service-id"}, regional...),
		optional: dryRun,
	},

	// Transit gateway attachments.
	"ec2 accept-transit-gateway-vpc-attachment": {
		required: append([]string{"--transit-gateway-attachment-id"}, regional...),
		optional: dryRun,
	},
	"ram create-resource-share": {
		required: append([]string{"--name"}, regional...),
		optional: []string{"--resource-arns", "--principals", "--tags", "--allow-external-principals", "--no-allow-external-principals",
			"--client-token", "--permission-arns", "--sources", "--resource-share-configuration"},
	},
	"ram associate-resource-share": {
		required: append([]string{"--resource-share-arn"}, regional...),
		optional: []string{"--resource-arns", "--principals", "--client-token", "--sources"},
	},
	"ec2 create-transit-gateway-route": {
		required:   append([]string{"--destination-cidr-block", "--transit-gateway-route-table-id"}, regional...),
		optional:   append([]string{"--transit-gateway-attachment-id", "--blackhole", "--no-blackhole"}, dryRun...),
		exactlyOne: [][]string{{"--transit-gateway-attachment-id", "--blackhole"}},
	},
	"ec2 associate-transit-gateway-route-table": {
		required: append([]string{"--transit-gateway-route-table-id", "--transit-gateway-attachment-id"}, regional...),
		optional: dryRun,
	},
}

// arity is how many words follow a flag.
type arity int

const (
	one       arity = iota // one value
	none                   // a switch: --dry-run
	oneOrMore              // a list: --vpc-endpoint-ids vpce-1 vpce-2
	zeroOrOne              // a structure of one boolean: --enable-dns-support alone means Value=true
)

// value is how a flag or an argument is given.
type value struct {
	arity arity
	check func(string) error // nil: any non-empty value
}

// flagValues gives the value of each flag that is not one word of any text.
var flagValues = map[string]value{
	"--dry-run": {none, nil}, "--no-dry-run": {none, nil},
	"--allow-external-principals": {none, nil}, "--no-allow-external-principals": {none, nil},
	"--blackhole": {none, nil}, "--no-blackhole": {none, nil},
	"--acceptance-required": {none, nil}, "--no-acceptance-required": {none, nil},
	"--remove-private-dns-name": {none, nil}, "--no-remove-private-dns-name": {none, nil},
	"--no-enable-dns-support": {none, nil}, "--no-enable-dns-hostnames": {none, nil},
	"--no-enable-network-address-usage-metrics": {none, nil},

	"--region":                         {one, region},
	"--vpc-peering-connection-id":      {one, hexID("pcx-", 8, 17)},
	"--route-table-id":                 {one, hexID("rtb-", 8, 17)},
	"--vpc-id":                         {one, hexID("vpc-", 8, 17)},
	"--group-id":                       {one, hexID("sg-", 8, 17)},
	"--source-group":                   {one, hexID("sg-", 8, 17)},
	"--transit-gateway-id":             {one, hexID("tgw-", 17)},
	"--transit-gateway-attachment-id":  {one, hexID("tgw-attach-", 17)},
	"--transit-gateway-route-table-id": {one, hexID("tgw-rtb-", 17)},
	"--vpc-endpoint-id":                {one, hexID("vpce-", 17)},
	"--service-id":                     {one, hexID("vpce-svc-", 17)},
	"--vpc-endpoint-ids":               {oneOrMore, hexID("vpce-", 17)},
	"--route-table-ids":                {oneOrMore, hexID("rtb-", 8, 17)},
	"--output":                         {one, output},
	"--destination-cidr-block":         {one, cidr},
	"--cidr":                           {one, cidr},
	"--protocol":                       {one, protocol},
	"--port":                           {one, portRange},
	"--hosted-zone-id":                 {one, zoneID},
	"--group-owner":                    {one, account},
	"--add-allowed-principals":         {oneOrMore, iamPrincipal},
	"--remove-allowed-principals":      {oneOrMore, iamPrincipal},
	"--add-supported-regions":          {oneOrMore, region},
	"--remove-supported-regions":       {oneOrMore, region},
	"--resource-share-arn":             {one, shareARN},
	"--resource-arns":                  {oneOrMore, resourceARN},
	"--principals":                     {oneOrMore, ramPrincipal},
	"--permission-arns":                {oneOrMore, nil},
	"--sources":                        {oneOrMore, account},
	"--filters":                        {oneOrMore, filter},
	"--tags":                           {oneOrMore, nil},
	"--tag-specifications":             {oneOrMore, nil},
	"--add-network-load-balancer-arns": {oneOrMore, nil}, "--remove-network-load-balancer-arns": {oneOrMore, nil},
	"--add-gateway-load-balancer-arns": {oneOrMore, nil}, "--remove-gateway-load-balancer-arns": {oneOrMore, nil},
	"--add-supported-ip-address-types": {oneOrMore, nil}, "--remove-supported-ip-address-types": {oneOrMore, nil},
	"--name": {one, shareName},

	"--vpc":                                  {one, structure(map[string]func(string) error{"VPCRegion": region, "VPCId": hexID("vpc-", 8, 17)}, "VPCRegion", "VPCId")},
	"--enable-dns-support":                   {zeroOrOne, structure(map[string]func(string) error{"Value": boolean}, "Value")},
	"--enable-dns-hostnames":                 {zeroOrOne, structure(map[string]func(string) error{"Value": boolean}, "Value")},
	"--enable-network-address-usage-metrics": {zeroOrOne, structure(map[string]func(string) error{"Value": boolean}, "Value")},
	"--accepter-peering-connection-options":  {one, peeringOptions},
	"--requester-peering-connection-options": {one, peeringOptions},
}

var peeringOptions = structure(map[string]func(string) error{"AllowDnsResolutionFromRemoteVpc": boolean})

// tfResource is one row of the Terraform table.
type tfResource struct {
	args       map[string]tfArg
	blocks     map[string]tfBlock
	exports    []string   // attributes other resources may reference
	exactlyOne [][]string // groups of arguments of which exactly one is set
}

type tfArg struct {
	typ      string // string, number, bool, map, set
	required bool
}

type tfBlock struct {
	max  int // at most this many; 0: any number
	args map[string]tfArg
}

// args makes the arguments of a row: "name!" is required, "name:number" is
// of another type than string.
func args(specs ...string) map[string]tfArg {
	out := map[string]tfArg{}
	for _, s := range specs {
		a := tfArg{typ: "string"}
		s, a.required = strings.CutSuffix(s, "!")
		if name, typ, ok := strings.Cut(s, ":"); ok {
			s, a.typ = name, typ
		}
		out[s] = a
	}
	return out
}

// peeringSide is the accepter and requester blocks of the peering resources.
var peeringSide = tfBlock{max: 1, args: args("allow_remote_vpc_dns_resolution:bool")}

// resources is the Terraform table: resource type → its schema, from the
// AWS provider 5.100.0.
var resources = map[string]tfResource{
	// VPC peering.
	"aws_vpc_peering_connection_accepter": {
		args:    args("vpc_peering_connection_id!", "auto_accept:bool", "tags:map"),
		blocks:  map[string]tfBlock{"accepter": peeringSide, "requester": peeringSide, "timeouts": {max: 1, args: args("create", "update")}},
		exports: []string{"id", "accept_status", "vpc_id", "peer_vpc_id", "peer_owner_id", "peer_region"},
	},
	"aws_route": {
		args: args("route_table_id!", "destination_cidr_block", "destination_ipv6_cidr_block", "destination_prefix_list_id",
			"vpc_peering_connection_id", "transit_gateway_id", "gateway_id", "nat_gateway_id", "vpc_endpoint_id", "local_gateway_id",
			"carrier_gateway_id", "core_network_arn", "egress_only_gateway_id", "network_interface_id"),
		blocks:  map[string]tfBlock{"timeouts": {max: 1, args: args("create", "update", "delete")}},
		exports: []string{"id"},
		exactlyOne: [][]string{
			{"destination_cidr_block", "destination_ipv6_cidr_block", "destination_prefix_list_id"},
			{"vpc_peering_connection_id", "transit_gateway_id", "gateway_id", "nat_gateway_id", "vpc_endpoint_id", "local_gateway_id",
				"carrier_gateway_id", "core_network_arn", "egress_only_gateway_id", "network_interface_id"},
		},
	},
	"aws_vpc_security_group_ingress_rule": {
		args: args("security_group_id!", "ip_protocol!", "cidr_ipv4", "cidr_ipv6", "prefix_list_id", "referenced_security_group_id",
			"from_port:number", "to_port:number", "description", "tags:map"),
		exports:    []string{"id", "arn", "security_group_rule_id"},
		exactlyOne: [][]string{{"cidr_ipv4", "cidr_ipv6", "prefix_list_id", "referenced_security_group_id"}},
	},
	"aws_vpc_peering_connection_options": {
		args:    args("vpc_peering_connection_id!"),
		blocks:  map[string]tfBlock{"accepter": peeringSide, "requester": peeringSide},
		exports: []string{"id"},
	},
	"aws_route53_vpc_association_authorization": {
		args:    args("zone_id!", "vpc_id!", "vpc_region"),
		blocks:  map[string]tfBlock{"timeouts": {max: 1, args: args("create", "read", "delete")}},
		exports: []string{"id"},
	},

	// PrivateLink.
	"aws_vpc_endpoint_service_allowed_principal": {
		args:    args("vpc_endpoint_service_id!", "principal_arn!"),
		exports: []string{"id"},
	},
	"aws_vpc_endpoint_connection_accepter": {
		args:    args("vpc_endpoint_service_id!", "vpc_endpoint_id!"),
		exports: []string{"id", "vpc_endpoint_state"},
	},

	// Transit gateway attachments.
	"aws_ec2_transit_gateway_vpc_attachment_accepter": {
		args: args("transit_gateway_attachment_id!", "transit_gateway_default_route_table_association:bool",
			"transit_gateway_default_route_table_propagation:bool", "tags:map"),
		exports: []string{"id", "transit_gateway_id", "vpc_id", "vpc_owner_id"},
	},
	"aws_ram_resource_share": {
		args:    args("name!", "allow_external_principals:bool", "permission_arns:set", "tags:map"),
		blocks:  map[string]tfBlock{"timeouts": {max: 1, args: args("create", "delete")}},
		exports: []string{"id", "arn"},
	},
	"aws_ram_resource_association": {
		args:    args("resource_arn!", "resource_share_arn!"),
		exports: []string{"id"},
	},
	"aws_ram_principal_association": {
		args:    args("principal!", "resource_share_arn!"),
		exports: []string{"id"},
	},
	"aws_ec2_transit_gateway_route": {
		args:       args("destination_cidr_block!", "transit_gateway_route_table_id!", "transit_gateway_attachment_id", "blackhole:bool"),
		exports:    []string{"id"},
		exactlyOne: [][]string{{"transit_gateway_attachment_id", "blackhole"}},
	},
	"aws_ec2_transit_gateway_route_table_association": {
		args:    args("transit_gateway_attachment_id!", "transit_gateway_route_table_id!", "replace_existing_association:bool"),
		exports: []string{"id"},
	},
}

// argValues gives the format of the Terraform arguments that name AWS
// things, whatever their resource type.
var argValues = map[string]func(string) error{
	"vpc_peering_connection_id":      hexID("pcx-", 8, 17),
	"route_table_id":                 hexID("rtb-", 8, 17),
	"vpc_id":                         hexID("vpc-", 8, 17),
	"security_group_id":              hexID("sg-", 8, 17),
	"referenced_security_group_id":   hexID("sg-", 8, 17),
	"transit_gateway_id":             hexID("tgw-", 17),
	"transit_gateway_attachment_id":  hexID("tgw-attach-", 17),
	"transit_gateway_route_table_id": hexID("tgw-rtb-", 17),
	"vpc_endpoint_id":                hexID("vpce-", 17),
	"vpc_endpoint_service_id":        hexID("vpce-svc-", 17),
	"destination_cidr_block":         cidr,
	"cidr_ipv4":                      cidr,
	"ip_protocol":                    protocol,
	"from_port":                      port,
	"to_port":                        port,
	"zone_id":                        zoneID,
	"vpc_region":                     region,
	"principal_arn":                  iamPrincipal,
	"principal":                      ramPrincipal,
	"resource_arn":                   resourceARN,
	"resource_share_arn":             shareARN,
	"name":                           shareName,
}

// Formats of values.

func hexID(prefix string, lengths ...int) func(string) error {
	return func(s string) error {
		hex, ok := strings.CutPrefix(s, prefix)
		if !ok || !slices.Contains(lengths, len(hex)) || strings.Trim(hex, "0123456789abcdef") != "" {
			var ns []string
			for _, n := range lengths {
				ns = append(ns, strconv.Itoa(n))
			}
			return fmt.Errorf("%q is not %s followed by %s lower-case hex digits", s, prefix, strings.Join(ns, " or "))
		}
		return nil
	}
}

func region(s string) error {
	if astrobot.ValidateRegion(s) != nil {
		return fmt.Errorf("%q is not an AWS region", s)
	}
	return nil
}

func cidr(s string) error {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() || p.Masked() != p {
		return fmt.Errorf("%q is not an IPv4 CIDR block with its host bits zero", s)
	}
	return nil
}

func protocol(s string) error {
	switch s {
	case "tcp", "udp", "icmp", "-1":
		return nil
	}
	return fmt.Errorf("%q is not a protocol (tcp, udp, icmp or -1)", s)
}

func port(s string) error {
	if n, err := strconv.Atoi(s); err != nil || n < -1 || n > 65535 {
		return fmt.Errorf("%q is not a port", s)
	}
	return nil
}

func portRange(s string) error {
	from, to, ok := strings.Cut(s, "-")
	if !ok || from == "" {
		return port(s)
	}
	if port(from) != nil || port(to) != nil {
		return fmt.Errorf("%q is not a port or a range of ports", s)
	}
	return nil
}

var zonePattern = regexp.MustCompile(`^Z[0-9A-Z]{1,32}$`)

func zoneID(s string) error {
	if !zonePattern.MatchString(s) {
		return fmt.Errorf("%q is not a Route 53 hosted zone ID (Z and upper-case letters and digits)", s)
	}
	return nil
}

var accountPattern = regexp.MustCompile(`^[0-9]{12}$`)

func account(s string) error {
	if !accountPattern.MatchString(s) {
		return fmt.Errorf("%q is not a 12-digit AWS account ID", s)
	}
	return nil
}

var iamPattern = regexp.MustCompile(`^arn:aws:iam::[0-9]{12}:(root|role/[\w+=,.@/-]+|user/[\w+=,.@/-]+)$`)

func iamPrincipal(s string) error {
	if !iamPattern.MatchString(s) {
		return fmt.Errorf("%q is not an IAM principal ARN (arn:aws:iam::<account>:root, :role/…, :user/…)", s)
	}
	return nil
}

var (
	tgwARNPattern   = regexp.MustCompile(`^arn:aws:ec2:([a-z0-9-]+):[0-9]{12}:transit-gateway/tgw-[0-9a-f]{17}$`)
	shareARNPattern = regexp.MustCompile(`^arn:aws:ram:([a-z0-9-]+):[0-9]{12}:resource-share/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	orgPattern      = regexp.MustCompile(`^arn:aws:organizations::[0-9]{12}:(organization/o-[a-z0-9]{10,32}|ou/o-[a-z0-9]{10,32}/ou-[a-z0-9-]+)$`)
	namePattern     = regexp.MustCompile(`^[\w.-]{1,255}$`)
	identPattern    = regexp.MustCompile(`^[a-z_][a-z0-9_-]*$`)
)

// resourceARN checks the ARN of a resource astrobot asks a customer to
// share: a transit gateway.
func resourceARN(s string) error {
	if m := tgwARNPattern.FindStringSubmatch(s); m == nil || region(m[1]) != nil {
		return fmt.Errorf("%q is not the ARN of a transit gateway", s)
	}
	return nil
}

func shareARN(s string) error {
	if m := shareARNPattern.FindStringSubmatch(s); m == nil || region(m[1]) != nil {
		return fmt.Errorf("%q is not the ARN of a RAM resource share", s)
	}
	return nil
}

func ramPrincipal(s string) error {
	if account(s) == nil || iamPrincipal(s) == nil || orgPattern.MatchString(s) {
		return nil
	}
	return fmt.Errorf("%q is not a RAM principal (an account ID, an IAM ARN or an organization ARN)", s)
}

func shareName(s string) error {
	if !namePattern.MatchString(s) {
		return fmt.Errorf("%q is not a name of letters, digits, '.', '_' and '-'", s)
	}
	return nil
}

func output(s string) error {
	switch s {
	case "json", "text", "table", "yaml", "yaml-stream":
		return nil
	}
	return fmt.Errorf("%q is not an output format", s)
}

func boolean(s string) error {
	if s != "true" && s != "false" {
		return fmt.Errorf("%q is not true or false", s)
	}
	return nil
}

// describeFilters gives, for the filters astrobot uses, the format of their
// values.
var describeFilters = map[string]func(string) error{
	"vpc-endpoint-id": hexID("vpce-", 17),
	"service-id":      hexID("vpce-svc-", 17),
	"vpc-id":          hexID("vpc-", 8, 17),
}

// filter checks one filter of a describe command: Name=…,Values=…,….
func filter(s string) error {
	kv, err := shorthand(s)
	if err != nil {
		return err
	}
	if len(kv) != 2 || len(kv["Name"]) != 1 || len(kv["Values"]) == 0 {
		return fmt.Errorf("filter %q is not Name=<name>,Values=<value>[,<value>…]", s)
	}
	check, ok := describeFilters[kv["Name"][0]]
	if !ok {
		return fmt.Errorf("filter %q names a filter not in the test's table", s)
	}
	for _, v := range kv["Values"] {
		if !isPlaceholder(v) {
			if err := check(v); err != nil {
				return fmt.Errorf("filter %q: %w", s, err)
			}
		}
	}
	return nil
}

// structure checks a structure given in the AWS CLI's shorthand syntax
// (Key=value,Key=value) or as JSON: its keys among keys, each required one
// present, each value of its format.
func structure(keys map[string]func(string) error, required ...string) func(string) error {
	return func(s string) error {
		kv, err := shorthand(s)
		if err != nil {
			return err
		}
		for k, vs := range kv {
			check, ok := keys[k]
			if !ok {
				return fmt.Errorf("%q has the key %s, not one of %s", s, k, strings.Join(slices.Sorted(maps.Keys(keys)), ", "))
			}
			if len(vs) != 1 {
				return fmt.Errorf("%q gives %s %d values", s, k, len(vs))
			}
			if !isPlaceholder(vs[0]) {
				if err := check(vs[0]); err != nil {
					return fmt.Errorf("%q: %s: %w", s, k, err)
				}
			}
		}
		for _, k := range required {
			if _, ok := kv[k]; !ok {
				return fmt.Errorf("%q lacks the key %s", s, k)
			}
		}
		if len(kv) == 0 {
			return fmt.Errorf("%q sets nothing", s)
		}
		return nil
	}
}

// shorthand reads the AWS CLI's shorthand syntax: Key=value,Key=v1,v2, or a
// JSON object of strings, booleans or lists of strings.
func shorthand(s string) (map[string][]string, error) {
	kv := map[string][]string{}
	if strings.HasPrefix(s, "{") {
		var obj map[string]any
		if err := json.Unmarshal([]byte(s), &obj); err != nil {
			return nil, fmt.Errorf("%q is not a JSON object: %v", s, err)
		}
		for k, v := range obj {
			switch v := v.(type) {
			case []any:
				for _, e := range v {
					kv[k] = append(kv[k], fmt.Sprint(e))
				}
			case map[string]any, nil:
				return nil, fmt.Errorf("%q: %s is not a string, a boolean or a list", s, k)
			default:
				kv[k] = []string{fmt.Sprint(v)}
			}
		}
		return kv, nil
	}
	last := ""
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(part, "=")
		switch {
		case ok && k != "":
			if _, dup := kv[k]; dup {
				return nil, fmt.Errorf("%q gives %s twice", s, k)
			}
			kv[k], last = []string{v}, k
		case !ok && last != "":
			kv[last] = append(kv[last], part)
		default:
			return nil, fmt.Errorf("%q is not Key=value,… shorthand", s)
		}
		if v := kv[last][len(kv[last])-1]; v == "" {
			return nil, fmt.Errorf("%q has an empty value", s)
		}
	}
	return kv, nil
}

// A placeholder is what the customer replaces: <your-sg-id>.
var placeholderPattern = regexp.MustCompile(`<[a-z0-9][a-z0-9-]*>`)

func isPlaceholder(s string) bool {
	return placeholderPattern.FindString(s) == s
}

// cliCommand is one AWS CLI line, split into words.
type cliCommand struct {
	line         string
	service, sub string
	flags        map[string][]string // values of each flag given, placeholders as written
}

// name is "service subcommand".
func (c cliCommand) name() string { return c.service + " " + c.sub }

// splitShell splits line into words as a POSIX shell (bash, zsh) does,
// with each placeholder <like-this> taken as the text the customer puts in
// its place. Anything but plain words, quotes and placeholders (a
// redirection, a pipe, a variable, a glob, a comment, a second command) is a
// problem: a customer pasting the line would not run what it says.
func splitShell(line string) ([]string, error) {
	// A placeholder is a redirection to a shell: parse the line with a
	// stand-in word for each one and put them back in the words.
	var holders []string
	marked := placeholderPattern.ReplaceAllStringFunc(line, func(p string) string {
		holders = append(holders, p)
		return fmt.Sprintf("ASTROPLACEHOLDER%dX", len(holders)-1)
	})
	f, err := syntax.NewParser(syntax.Variant(syntax.LangBash), syntax.KeepComments(true)).Parse(strings.NewReader(marked), "")
	if err != nil {
		return nil, fmt.Errorf("not shell syntax: %v", err)
	}
	if len(f.Stmts) != 1 || len(f.Last) > 0 {
		return nil, fmt.Errorf("%d commands (and %d comments), want one", len(f.Stmts), len(f.Last))
	}
	st := f.Stmts[0]
	call, ok := st.Cmd.(*syntax.CallExpr)
	switch {
	case !ok:
		return nil, fmt.Errorf("not a simple command")
	case len(st.Redirs) > 0:
		return nil, fmt.Errorf("a redirection (an unescaped < or >?)")
	case st.Background || st.Negated || st.Coprocess || len(st.Comments) > 0:
		return nil, fmt.Errorf("&, !, a coprocess or a comment")
	case len(call.Assigns) > 0:
		return nil, fmt.Errorf("a variable assignment")
	}
	var words []string
	for _, w := range call.Args {
		var b strings.Builder
		for _, part := range w.Parts {
			switch p := part.(type) {
			case *syntax.Lit:
				if strings.ContainsAny(p.Value, "\\*?[]{}~!") {
					return nil, fmt.Errorf("word %q has an unquoted shell character", marked[w.Pos().Offset():w.End().Offset()])
				}
				b.WriteString(p.Value)
			case *syntax.SglQuoted:
				if p.Dollar {
					return nil, fmt.Errorf("a $'…' string")
				}
				b.WriteString(p.Value)
			case *syntax.DblQuoted:
				for _, q := range p.Parts {
					lit, ok := q.(*syntax.Lit)
					if !ok || p.Dollar || strings.ContainsAny(lit.Value, "\\!") {
						return nil, fmt.Errorf("word %q expands something inside double quotes", marked[w.Pos().Offset():w.End().Offset()])
					}
					b.WriteString(lit.Value)
				}
			default:
				return nil, fmt.Errorf("word %q expands something (%T)", marked[w.Pos().Offset():w.End().Offset()], part)
			}
		}
		word := b.String()
		for i, h := range holders {
			word = strings.ReplaceAll(word, fmt.Sprintf("ASTROPLACEHOLDER%dX", i), h)
		}
		words = append(words, word)
	}
	return words, nil
}

// parseCLI splits an AWS CLI line and checks it against the tables: see the
// package comment.
func parseCLI(line string) (cliCommand, []string) {
	c := cliCommand{line: line, flags: map[string][]string{}}
	words, err := splitShell(line)
	if err != nil {
		return c, []string{err.Error()}
	}
	if len(words) < 3 || words[0] != "aws" || strings.HasPrefix(words[1], "-") || strings.HasPrefix(words[2], "-") {
		return c, []string{fmt.Sprintf("not aws <service> <subcommand> …: %q", words)}
	}
	c.service, c.sub = words[1], words[2]
	row, ok := subcommands[c.name()]
	if !ok {
		return c, []string{fmt.Sprintf("the subcommand %q is not in the test's table: add its row to subcommands, from `aws %s help`", c.name(), c.name())}
	}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	allowed := slices.Concat(row.required, row.optional, globalFlags)
	rest := words[3:]
	for len(rest) > 0 {
		flag := rest[0]
		rest = rest[1:]
		if !strings.HasPrefix(flag, "--") {
			bad("%q is not a flag", flag)
			continue
		}
		if !slices.Contains(allowed, flag) {
			bad("%s does not take the flag %s (the table allows %s)", c.name(), flag, strings.Join(allowed, " "))
		}
		if _, dup := c.flags[flag]; dup {
			bad("the flag %s is given twice", flag)
		}
		v, ok := flagValues[flag]
		if !ok {
			v = value{one, nil}
		}
		n := 0
		for n < len(rest) && !strings.HasPrefix(rest[n], "--") && (v.arity == oneOrMore || n < 1) && v.arity != none {
			n++
		}
		vals := rest[:n]
		rest = rest[n:]
		c.flags[flag] = append([]string{}, vals...)
		if (v.arity == one || v.arity == oneOrMore) && n == 0 {
			bad("the flag %s has no value", flag)
		}
		for _, val := range vals {
			switch {
			case strings.TrimSpace(val) == "":
				bad("the flag %s has an empty value", flag)
			case isPlaceholder(val):
			case placeholderPattern.MatchString(val) && !strings.Contains(val, "="):
				bad("the flag %s has %q, part placeholder and part value", flag, val)
			case v.check != nil:
				if err := v.check(val); err != nil {
					bad("%s: %v", flag, err)
				}
			}
		}
	}
	for _, f := range row.required {
		if _, ok := c.flags[f]; !ok {
			bad("%s requires the flag %s", c.name(), f)
		}
	}
	groups := row.exactlyOne
	for f, gs := range row.when {
		if _, ok := c.flags[f]; ok {
			groups = append(slices.Clone(groups), gs...)
		}
	}
	for _, g := range groups {
		var given []string
		for _, f := range g {
			if _, ok := c.flags[f]; ok {
				given = append(given, f)
			}
		}
		if len(given) != 1 {
			bad("%s takes exactly one of %s; the line gives %d (%s)", c.name(), strings.Join(g, " "), len(given), strings.Join(given, " "))
		}
	}
	return c, problems
}

// tfBlockOf is one resource of a Terraform snippet.
type tfBlockOf struct {
	typ, name string
	body      *hclsyntax.Body
	args      map[string]string // string values of the arguments, as written
}

// parseTerraform parses a Terraform snippet into its resources.
func parseTerraform(src, filename string) ([]tfBlockOf, []string) {
	f, diags := hclsyntax.ParseConfig([]byte(src), filename, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, []string{fmt.Sprintf("not HCL: %s", diags.Error())}
	}
	body := f.Body.(*hclsyntax.Body)
	var problems []string
	if canonical := string(hclwrite.Format([]byte(src))); canonical != src {
		problems = append(problems, fmt.Sprintf("not as terraform fmt writes it, which is:\n%s", canonical))
	}
	for name := range body.Attributes {
		problems = append(problems, fmt.Sprintf("a top-level argument %s: only resource blocks belong in a step", name))
	}
	var out []tfBlockOf
	for _, b := range body.Blocks {
		if b.Type != "resource" || len(b.Labels) != 2 {
			problems = append(problems, fmt.Sprintf("a %s block %q: only resource \"<type>\" \"<name>\" blocks belong in a step", b.Type, b.Labels))
			continue
		}
		r := tfBlockOf{typ: b.Labels[0], name: b.Labels[1], body: b.Body, args: map[string]string{}}
		for name, a := range b.Body.Attributes {
			if v, d := a.Expr.Value(nil); !d.HasErrors() && v.Type() == cty.String && v.IsKnown() && !v.IsNull() {
				r.args[name] = v.AsString()
			}
		}
		out = append(out, r)
	}
	return out, problems
}

// checkResource checks resource r against the Terraform table; declared
// holds every resource of the same message, as type.name.
func checkResource(r tfBlockOf, declared map[string]bool) []string {
	row, ok := resources[r.typ]
	if !ok {
		return []string{fmt.Sprintf("the resource type %s is not in the test's table: add its row to resources, from `terraform providers schema -json`", r.typ)}
	}
	var problems []string
	bad := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%s.%s: ", r.typ, r.name)+fmt.Sprintf(format, args...))
	}
	if !identPattern.MatchString(r.name) {
		bad("the name %q is not a Terraform identifier", r.name)
	}
	checkBody := func(where string, body *hclsyntax.Body, argsOf map[string]tfArg) {
		for name, a := range body.Attributes {
			spec, ok := argsOf[name]
			if !ok {
				bad("%s has no argument %s", where, name)
				continue
			}
			for _, p := range checkExpr(name, spec, a.Expr, declared) {
				bad("%s", p)
			}
		}
		for name, spec := range argsOf {
			if _, ok := body.Attributes[name]; spec.required && !ok {
				bad("%s requires the argument %s", where, name)
			}
		}
	}
	checkBody(r.typ, r.body, row.args)
	count := map[string]int{}
	for _, b := range r.body.Blocks {
		spec, ok := row.blocks[b.Type]
		if !ok || len(b.Labels) > 0 {
			bad("%s has no block %s %q", r.typ, b.Type, b.Labels)
			continue
		}
		count[b.Type]++
		if spec.max > 0 && count[b.Type] > spec.max {
			bad("%s takes at most %d %s block", r.typ, spec.max, b.Type)
		}
		if len(b.Body.Blocks) > 0 {
			bad("the %s block has blocks inside", b.Type)
		}
		checkBody("its "+b.Type+" block", b.Body, spec.args)
	}
	for _, g := range row.exactlyOne {
		var given []string
		for _, a := range g {
			if _, ok := r.body.Attributes[a]; ok {
				given = append(given, a)
			}
		}
		if len(given) != 1 {
			bad("exactly one of %s must be set; it sets %d (%s)", strings.Join(g, ", "), len(given), strings.Join(given, ", "))
		}
	}
	return problems
}

// checkExpr checks the value of argument name: a literal of its type and
// format, or a reference to an attribute of a resource of the message.
func checkExpr(name string, spec tfArg, e hclsyntax.Expression, declared map[string]bool) []string {
	if vars := e.Variables(); len(vars) > 0 {
		st, ok := e.(*hclsyntax.ScopeTraversalExpr)
		if !ok {
			return []string{fmt.Sprintf("%s mixes references into a value: give a literal or one reference", name)}
		}
		tr := st.Traversal
		if len(tr) != 3 {
			return []string{fmt.Sprintf("%s refers to something other than <type>.<name>.<attribute>", name)}
		}
		typ := tr.RootName()
		res, _ := tr[1].(hcl.TraverseAttr)
		attr, _ := tr[2].(hcl.TraverseAttr)
		if !declared[typ+"."+res.Name] {
			return []string{fmt.Sprintf("%s refers to %s.%s, which the message does not declare", name, typ, res.Name)}
		}
		if !slices.Contains(resources[typ].exports, attr.Name) {
			return []string{fmt.Sprintf("%s refers to %s.%s.%s, which the table does not export", name, typ, res.Name, attr.Name)}
		}
		return nil
	}
	v, diags := e.Value(nil)
	if diags.HasErrors() {
		return []string{fmt.Sprintf("%s: %s", name, diags.Error())}
	}
	if v.IsNull() {
		return []string{fmt.Sprintf("%s is null", name)}
	}
	switch spec.typ {
	case "map", "set":
		if !v.Type().IsObjectType() && !v.Type().IsTupleType() && !v.Type().IsMapType() && !v.Type().IsListType() {
			return []string{fmt.Sprintf("%s is a %s, not a %s", name, v.Type().FriendlyName(), spec.typ)}
		}
		return nil
	case "bool":
		if v.Type() != cty.Bool {
			return []string{fmt.Sprintf("%s is a %s, not a bool", name, v.Type().FriendlyName())}
		}
		return nil
	case "number":
		switch v.Type() {
		case cty.Number:
			bf := v.AsBigFloat()
			if !bf.IsInt() {
				return []string{fmt.Sprintf("%s is not a whole number", name)}
			}
			s := bf.Text('f', 0)
			if check := argValues[name]; check != nil {
				if err := check(s); err != nil {
					return []string{fmt.Sprintf("%s: %v", name, err)}
				}
			}
			return nil
		case cty.String:
			// Terraform converts a string of digits; a placeholder becomes one.
		default:
			return []string{fmt.Sprintf("%s is a %s, not a number", name, v.Type().FriendlyName())}
		}
	}
	if v.Type() != cty.String {
		return []string{fmt.Sprintf("%s is a %s, not a string", name, v.Type().FriendlyName())}
	}
	s := v.AsString()
	switch check := argValues[name]; {
	case strings.TrimSpace(s) == "":
		return []string{fmt.Sprintf("%s is empty", name)}
	case isPlaceholder(s):
	case placeholderPattern.MatchString(s):
		return []string{fmt.Sprintf("%s is %q, part placeholder and part value", name, s)}
	case check != nil:
		if err := check(s); err != nil {
			return []string{fmt.Sprintf("%s: %v", name, err)}
		}
	}
	return nil
}

// message is the instructions of one DM: a request of one kind in one
// status, for one cluster.
type message struct {
	name string // peering/active/cl-east/every-field
	kind astrobot.KindDef
	cl   astrobot.Cluster
	in   *astrobot.Instructions
}

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// clusters are those the requests are for, each with two CIDRs: one in the
// region of the forms' placeholders, one in another (cross-region requests).
var clusters = []astrobot.Cluster{
	{ID: "cl-east", Name: "prod-east", Organization: "acme", Region: "us-east-1", AccountID: "111111111111",
		VPCID: "vpc-0123456789abcdef0", CIDRs: prefixes("10.100.0.0/16", "10.101.0.0/16")},
	{ID: "cl-west", Name: "prod-west", Organization: "acme", Region: "eu-west-1", AccountID: "222222222222",
		VPCID: "vpc-0fedcba9876543210", CIDRs: prefixes("10.110.0.0/16", "172.16.0.0/20")},
}

// inputs returns the forms of kind d to request with: every field at its
// placeholder, and, if the kind has optional fields, those left empty.
func inputs(d astrobot.KindDef) map[string]astrobot.Input {
	every, required := astrobot.Input{}, astrobot.Input{}
	optional := false
	for _, f := range d.Fields() {
		every[f.Name] = f.Placeholder
		if f.Optional {
			optional = true
		} else {
			required[f.Name] = f.Placeholder
		}
	}
	out := map[string]astrobot.Input{"every-field": every}
	if optional {
		out["required-fields"] = required
	}
	return out
}

// statuses returns every status a request of kind d can be in.
func statuses(d astrobot.KindDef) []astrobot.Status {
	out := []astrobot.Status{astrobot.StatusSubmitted, astrobot.StatusRejected, astrobot.StatusCancelled}
	for _, st := range d.States() {
		out = append(out, st.Status)
	}
	return out
}

// messages returns the instructions of every DM a customer can get: every
// registered kind, each form variant and cluster, every status, with the
// kind's example Resource.
func messages(t *testing.T) []message {
	t.Helper()
	var out []message
	for _, d := range astrobot.Kinds() {
		if err := d.Resource().Validate(d.Resource().Example); err != nil {
			t.Errorf("%s: the example Resource %q does not validate: %v", d.Slug(), d.Resource().Example, err)
		}
		made := 0
		forms := inputs(d)
		for _, variant := range slices.Sorted(maps.Keys(forms)) {
			for _, cl := range clusters {
				spec, _, err := d.Parse(forms[variant], &cl)
				if err != nil {
					continue // e.g. a placeholder ARN in another region than this cluster's
				}
				for _, s := range statuses(d) {
					r := astrobot.Request{ID: 42, Kind: d.Kind(), Status: s, ClusterID: cl.ID, Spec: spec,
						Requester: astrobot.Requester{UserID: "UALICE", TeamID: "TACME"},
						Resource:  d.Resource().Example, CreatedAt: time.Date(2025, 3, 4, 15, 4, 5, 0, time.UTC)}
					if in := d.Instructions(&r, cl); in != nil {
						out = append(out, message{name: fmt.Sprintf("%s/%s/%s/%s", d.Slug(), s, cl.ID, variant), kind: d, cl: cl, in: in})
					}
				}
				made++
			}
		}
		if made == 0 {
			t.Errorf("%s: no form of placeholders parses for any test cluster", d.Slug())
		}
	}
	if len(out) == 0 {
		t.Fatal("no kind gives the customer any instructions")
	}
	return out
}

// TestCLI checks every AWS CLI line of every message against the table of
// subcommands.
func TestCLI(t *testing.T) {
	lines := 0
	used := map[string]bool{}
	for _, m := range messages(t) {
		for i, st := range m.in.Steps {
			for _, line := range st.CLI {
				lines++
				c, problems := parseCLI(line)
				used[c.name()] = true
				for _, p := range problems {
					t.Errorf("%s, step %d, line %q: %s", m.name, i+1, line, p)
				}
			}
		}
	}
	if lines == 0 {
		t.Fatal("no message has an AWS CLI line")
	}
	t.Logf("%d AWS CLI lines checked, subcommands %s", lines, strings.Join(slices.Sorted(maps.Keys(used)), ", "))
}

// TestTerraform checks every Terraform snippet of every message against the
// table of resources, and that names are unique per type in each message.
func TestTerraform(t *testing.T) {
	blocks := 0
	for _, m := range messages(t) {
		var all []tfBlockOf
		declared := map[string]bool{}
		for i, st := range m.in.Steps {
			if st.Terraform == "" {
				continue
			}
			rs, problems := parseTerraform(st.Terraform, fmt.Sprintf("%s step %d", m.name, i+1))
			for _, p := range problems {
				t.Errorf("%s, step %d: %s\n%s", m.name, i+1, p, st.Terraform)
			}
			for _, r := range rs {
				key := r.typ + "." + r.name
				if declared[key] {
					t.Errorf("%s, step %d: resource %s is declared twice in the message: names must be unique per type", m.name, i+1, key)
				}
				declared[key] = true
			}
			all = append(all, rs...)
		}
		for _, r := range all {
			blocks++
			for _, p := range checkResource(r, declared) {
				t.Errorf("%s: %s", m.name, p)
			}
		}
	}
	if blocks == 0 {
		t.Fatal("no message has a Terraform resource")
	}
	t.Logf("%d Terraform resources checked", blocks)
}

// perCIDR are the commands and resources that route or let in one CIDR
// each, and where they name it: a step with them must have one per cluster
// CIDR.
var (
	perCIDRCommands = map[string]string{
		"ec2 authorize-security-group-ingress": "--cidr",
		"ec2 create-route":                     "--destination-cidr-block",
		"ec2 create-transit-gateway-route":     "--destination-cidr-block",
	}
	perCIDRResources = map[string]string{
		"aws_vpc_security_group_ingress_rule": "cidr_ipv4",
		"aws_route":                           "destination_cidr_block",
		"aws_ec2_transit_gateway_route":       "destination_cidr_block",
	}
)

// TestEveryAstroCIDR checks that each step with security-group rules or
// routes has one per Astro CIDR of the cluster, in AWS CLI and in
// Terraform.
func TestEveryAstroCIDR(t *testing.T) {
	found := map[string]int{}
	for _, m := range messages(t) {
		want := astrobot.Strings(m.cl.CIDRs)
		slices.Sort(want)
		for i, st := range m.in.Steps {
			got := map[string][]string{}
			for _, line := range st.CLI {
				c, _ := parseCLI(line)
				if flag, ok := perCIDRCommands[c.name()]; ok {
					got["aws "+c.name()] = append(got["aws "+c.name()], c.flags[flag]...)
				}
			}
			if st.Terraform != "" {
				rs, _ := parseTerraform(st.Terraform, m.name)
				for _, r := range rs {
					if arg, ok := perCIDRResources[r.typ]; ok {
						got[r.typ] = append(got[r.typ], r.args[arg])
					}
				}
			}
			for what, cidrs := range got {
				found[what]++
				slices.Sort(cidrs)
				if !slices.Equal(cidrs, want) {
					t.Errorf("%s, step %d (%s): %s for %s, want one for each Astro CIDR: %s", m.name, i+1, st.Title, what, strings.Join(cidrs, ", "), strings.Join(want, ", "))
				}
			}
		}
	}
	// Peering gives both: the check must have seen them.
	for _, what := range []string{"aws ec2 authorize-security-group-ingress", "aws ec2 create-route", "aws_vpc_security_group_ingress_rule", "aws_route"} {
		if found[what] == 0 {
			t.Errorf("no message has a step with %s: the check saw nothing", what)
		}
	}
	t.Logf("steps checked per command or resource: %v", found)
}

// TestCheckersCatch proves the checks fail what a customer could not run.
func TestCheckersCatch(t *testing.T) {
	cli := []struct{ line, want string }{
		{"aws ec2 create-route --route-table-id <your-route-table-id> --destination-cidr-block 10.0.0.0/16 --region us-east-1", "exactly one of --vpc-peering-connection-id"},
		{"aws ec2 accept-vpc-peering-connection --region us-east-1", "requires the flag --vpc-peering-connection-id"},
		{"aws ec2 accept-vpc-peering-connection --vpc-peering-connection-id pcx-0abc12345678def9 --region us-east-1", "pcx- followed by 8 or 17"},
		{"aws ec2 accept-vpc-peering-connection --vpc-peering-connection-id pcx-0abc1234 --peer pcx-0abc1234 --region us-east-1", "does not take the flag --peer"},
		{"aws ec2 accept-vpc-peering-connection --vpc-peering-connection-id pcx-0abc1234 --region us-east-9", "not an AWS region"},
		{"aws ec2 accept-vpc-peering-connection --vpc-peering-connection-id pcx-0abc1234", "requires the flag --region"},
		{"aws ec2 delete-vpc --vpc-id vpc-0abc1234", "not in the test's table"},
		{"aws ec2 authorize-security-group-ingress --group-id <your-sg-id> --protocol tcp --port <port> --cidr 10.0.0.0/8 --cidr 10.1.0.0/16 --region us-east-1", "given twice"},
		{"aws ec2 authorize-security-group-ingress --group-id <your-sg-id> --protocol tcp --cidr 10.0.0.1/16 --region us-east-1", "host bits"},
		{"aws ec2 authorize-security-group-ingress --group-id &lt;your-sg-id&gt; --protocol tcp --port 443 --cidr 10.0.0.0/16 --region us-east-1", "want one"},
		{"aws ec2 authorize-security-group-ingress --group-id sg-0123abcd --protocol tcp --port 443 --cidr 10.0.0.0/16 --region us-east-1 > out", "redirection"},
		{"aws ec2 modify-vpc-attribute --vpc-id vpc-0abc1234 --enable-dns-support Value=true --enable-dns-hostnames Value=true --region us-east-1", "exactly one of"},
		{"aws ec2 modify-vpc-attribute --vpc-id vpc-0abc1234 --enable-dns-support {\"Value\":true} --region us-east-1", "unquoted shell character"},
		{"aws ec2 modify-vpc-attribute --vpc-id vpc-0abc1234 --enable-dns-support Valu=true --region us-east-1", "has the key Valu"},
		{"aws route53 create-vpc-association-authorization --hosted-zone-id zabc --vpc VPCRegion=us-east-1,VPCId=vpc-0abc1234", "hosted zone ID"},
		{"aws route53 create-vpc-association-authorization --hosted-zone-id <your-zone-id> --vpc VPCId=vpc-0abc1234", "lacks the key VPCRegion"},
		{"aws ec2 describe-vpc-endpoint-connections --filters Name=vpc-endpoint-id,Values=vpc-0abc1234 --region us-east-1", "vpce- followed by 17"},
		{"aws ec2 accept-vpc-peering-connection --vpc-peering-connection-id $PCX --region us-east-1", "expands something"},
	}
	for _, tt := range cli {
		_, problems := parseCLI(tt.line)
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }) {
			t.Errorf("parseCLI(%q) = %q, want a problem saying %q", tt.line, problems, tt.want)
		}
	}
	if c, problems := parseCLI(`aws ec2 modify-vpc-attribute --vpc-id vpc-0abc1234 --enable-dns-support '{"Value": true}' --region us-east-1`); len(problems) > 0 || c.flags["--enable-dns-support"][0] != `{"Value": true}` {
		t.Errorf("quoted JSON: %q, %q; want it accepted as one word", c.flags, problems)
	}
	if _, problems := parseCLI(`aws ec2 modify-vpc-attribute --vpc-id vpc-0abc1234 --enable-dns-support --region us-east-1`); len(problems) > 0 {
		t.Errorf("--enable-dns-support alone: %q; want it accepted, as the AWS CLI does", problems)
	}

	tf := []struct{ src, want string }{
		{`resource "aws_route" "a" { destination_cidr_block = "10.0.0.0/16" }`, "requires the argument route_table_id"},
		{`resource "aws_route" "a" {
  route_table_id = "<your-route-table-id>"
  destination_cidr_block = "10.0.0.0/16"
}`, "exactly one of vpc_peering_connection_id"},
		{`resource "aws_vpc_peering_connection_accepter" "a" { vpc_peering_connection_id = "pcx-1" }`, "pcx- followed by"},
		{`resource "aws_vpc_peering_connection_accepter" "a" {
  vpc_peering_connection_id = "pcx-0abc1234"
  auto_accept = "yes"
}`, "not a bool"},
		{`resource "aws_vpc_peering_connection_accepter" "a" {
  vpc_peering_connection_id = "pcx-0abc1234"
  peer_vpc_id = "vpc-0abc1234"
}`, "no argument peer_vpc_id"},
		{`resource "aws_vpc_peering_connection_options" "a" {
  vpc_peering_connection_id = "pcx-0abc1234"
  accepter { allow_remote_vpc_dns_resolution = true }
  accepter { allow_remote_vpc_dns_resolution = true }
}`, "at most 1 accepter"},
		{`resource "aws_vpc_peering_connection_options" "a" {
  vpc_peering_connection_id = "pcx-0abc1234"
  dns { allow = true }
}`, "no block dns"},
		{`resource "aws_vpc_security_group_ingress_rule" "a" {
  security_group_id = "<your-sg-id>"
  ip_protocol = "tcp"
  cidr_ipv4 = "10.0.0.0/16"
  from_port = "https"
}`, "from_port"},
		{`resource "aws_ram_principal_association" "a" {
  principal = "111111111111"
  resource_share_arn = aws_ram_resource_share.missing.arn
}`, "does not declare"},
		{`resource "aws_vpc_peering_connection" "a" { vpc_id = "vpc-0abc1234" }`, "not in the test's table"},
		{`resource "aws_route" "a" {`, "not HCL"},
		{`provider "aws" { region = "us-east-1" }`, "only resource"},
		{"resource \"aws_route53_vpc_association_authorization\" \"a\" {\n  zone_id = \"<your-zone-id>\"\n  vpc_id     = \"vpc-0abc1234\"\n}", "terraform fmt"},
	}
	for _, tt := range tf {
		rs, problems := parseTerraform(tt.src, "test.tf")
		declared := map[string]bool{}
		for _, r := range rs {
			declared[r.typ+"."+r.name] = true
		}
		for _, r := range rs {
			problems = append(problems, checkResource(r, declared)...)
		}
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }) {
			t.Errorf("Terraform %q: problems %q, want one saying %q", tt.src, problems, tt.want)
		}
	}
}
