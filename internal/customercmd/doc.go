// Package customercmd holds no code: its tests check every command astrobot
// tells a customer to run, for every registered kind of request, in every
// status the kind declares.
//
// For a request built from the kind's form placeholders, with the kind's
// example Resource, and a cluster with two CIDRs, the tests collect
// KindDef.Instructions and check that
//
//   - every AWS CLI line splits into words by the shell's rules without any
//     shell syntax beyond words and quotes, starts with aws, names a service
//     and a subcommand listed in the table of subcommands, gives every flag
//     the subcommand requires a value and no flag the table does not allow,
//     and that the values of flags naming AWS IDs (pcx-, vpc-, tgw-,
//     tgw-attach-, vpce-, vpce-svc-, rtb-, sg-, hosted zones, accounts,
//     regions, CIDRs, ARNs) have their format, unless they are placeholders
//     written <like-this>;
//   - every Terraform snippet parses as HCL, is laid out as terraform fmt
//     lays it out, and holds only resource blocks of
//     types in the table of AWS provider 5.100 resources, each with its
//     required arguments, no unknown argument or block, values of the right
//     type and format, references only to resources of the same message, and
//     names unique per type within one message;
//   - a step that routes or lets in the Astro CIDRs (routes, transit gateway
//     routes, security group rules) has one route or rule per cluster CIDR,
//     in its AWS CLI lines and in its Terraform.
//
// A new kind whose instructions use a subcommand or resource type missing
// from the tables fails with its name: add its row, from `aws <service>
// <subcommand> help` and `terraform providers schema -json`.
//
// The package is separate so that the root package keeps to the standard
// library: the shell and HCL parsers are imported by these tests only.
package customercmd
