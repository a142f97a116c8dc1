package cloud

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"

	"github.com/astrobot-dev/astrobot"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// routeTablePageSize is the MaxResults of DescribeRouteTables (AWS allows 5 to 100).
const routeTablePageSize = 100

// gateway is where the routes astrobot adds to a cluster VPC go: a peering
// connection or a transit gateway.
type gateway struct {
	id   string                      // pcx-… or tgw-…
	noun string                      // in messages: "the peering connection pcx-…"
	attr string                      // the log attribute of id: "pcx"
	set  func(*ec2.CreateRouteInput) // makes id the target of the route
}

// peeringGateway is the peering connection pcx as a target of routes.
func peeringGateway(pcx string) gateway {
	return gateway{id: pcx, noun: "the peering connection " + pcx, attr: "pcx",
		set: func(in *ec2.CreateRouteInput) { in.VpcPeeringConnectionId = aws.String(pcx) }}
}

// transitGateway is the transit gateway tgw as a target of routes.
func transitGateway(tgw string) gateway {
	return gateway{id: tgw, noun: "the transit gateway " + tgw, attr: "tgw",
		set: func(in *ec2.CreateRouteInput) { in.TransitGatewayId = aws.String(tgw) }}
}

// plannedRoute is a route addRoutes adds: cidr through the gateway in table.
type plannedRoute struct {
	table string
	cidr  netip.Prefix
}

// addRoutes routes every CIDR of cidrs through gw in every route table of the
// VPC of cl, in the account and region of tg, and returns how many route
// tables the VPC has and how many routes it added. A route that is there
// already counts as done. A route to one of the CIDRs that goes elsewhere is
// an EConflict error naming the route table, the CIDR and where the route
// goes; addRoutes never replaces it, and adds no route before every one is
// known to be free. A VPC without route tables is an EInternal error. Failed
// AWS calls come back as errors from f, logged with log.
func addRoutes(ctx context.Context, f Failer, tg target, cl astrobot.Cluster, gw gateway, cidrs []netip.Prefix, log []any) (tables, added int, err error) {
	all, err := vpcRouteTables(ctx, tg.client, cl.VPCID)
	if err != nil {
		return 0, 0, f.Fail(ctx, tg.account, tg.region, "look up route tables", err, log...)
	}
	if len(all) == 0 {
		f.Logger.ErrorContext(ctx, f.Prefix+": the cluster VPC has no route table", append(log, "vpc", cl.VPCID, "account", tg.account, "region", tg.region)...)
		return 0, 0, astrobot.Errorf(astrobot.EInternal, "AWS lists no route table in VPC %s of cluster %s (account %s, %s): check the cluster's VPC ID.",
			cl.VPCID, cl.ID, tg.account, tg.region)
	}
	var missing []plannedRoute
	for _, t := range all {
		table := aws.ToString(t.RouteTableId)
		for _, cidr := range cidrs {
			to, ok := routeTo(t, cidr)
			if !ok {
				missing = append(missing, plannedRoute{table, cidr})
				continue
			}
			if err := routeConflict(tg, cl, table, cidr, to, gw); err != nil {
				return 0, 0, err
			}
		}
	}
	for _, m := range missing {
		if err := addRoute(ctx, f, tg, cl, m, gw); err != nil {
			return 0, 0, err
		}
	}
	return len(all), len(missing), nil
}

// addRoute adds the route m through gw. A route that appeared meanwhile is
// fine if it goes to gw too.
func addRoute(ctx context.Context, f Failer, tg target, cl astrobot.Cluster, m plannedRoute, gw gateway) error {
	log := []any{"cluster", cl.ID, gw.attr, gw.id, "route_table", m.table, "cidr", m.cidr.String()}
	in := &ec2.CreateRouteInput{RouteTableId: aws.String(m.table), DestinationCidrBlock: aws.String(m.cidr.String())}
	gw.set(in)
	_, err := tg.client.CreateRoute(ctx, in)
	if err == nil {
		return nil
	}
	if !isCode(err, "RouteAlreadyExists") {
		return f.Fail(ctx, tg.account, tg.region, "add routes", err, log...)
	}
	again, derr := routeTables(ctx, tg.client, &ec2.DescribeRouteTablesInput{RouteTableIds: []string{m.table}})
	if derr != nil {
		return f.Fail(ctx, tg.account, tg.region, "look up route tables", derr, log...)
	}
	for _, t := range again {
		if to, ok := routeTo(t, m.cidr); ok {
			return routeConflict(tg, cl, m.table, m.cidr, to, gw)
		}
	}
	return f.Fail(ctx, tg.account, tg.region, "add routes", err, log...)
}

// routeConflict returns nil when the route to cidr in table goes to gw, and
// the EConflict error naming where it goes otherwise.
func routeConflict(tg target, cl astrobot.Cluster, table string, cidr netip.Prefix, to string, gw gateway) error {
	if to == gw.id {
		return nil
	}
	return astrobot.Errorf(astrobot.EConflict, "Route table %s of cluster %s (account %s, %s) already sends %s to %s, not to %s: remove or change that route, then retry.",
		table, cl.ID, tg.account, tg.region, cidr, to, gw.noun)
}

// routeTo returns where the route of t to exactly cidr goes, if t has one.
func routeTo(t types.RouteTable, cidr netip.Prefix) (string, bool) {
	for _, r := range t.Routes {
		dest, err := netip.ParsePrefix(aws.ToString(r.DestinationCidrBlock))
		if err != nil || dest != cidr {
			continue
		}
		return cmp.Or(aws.ToString(r.VpcPeeringConnectionId), aws.ToString(r.GatewayId), aws.ToString(r.NatGatewayId),
			aws.ToString(r.TransitGatewayId), aws.ToString(r.NetworkInterfaceId), aws.ToString(r.InstanceId),
			aws.ToString(r.EgressOnlyInternetGatewayId), aws.ToString(r.LocalGatewayId), aws.ToString(r.CarrierGatewayId),
			aws.ToString(r.CoreNetworkArn), aws.ToString(r.OdbNetworkArn), "an unnamed target"), true
	}
	return "", false
}

// vpcRouteTables returns the route tables of vpc, sorted by ID. The VPC is
// checked here too, whatever the filter did.
func vpcRouteTables(ctx context.Context, client *ec2.Client, vpc string) ([]types.RouteTable, error) {
	tables, err := routeTables(ctx, client, &ec2.DescribeRouteTablesInput{
		Filters:    []types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpc}}},
		MaxResults: aws.Int32(routeTablePageSize),
	})
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(tables, func(t types.RouteTable) bool { return aws.ToString(t.VpcId) != vpc }), nil
}

// routeTables returns the route tables DescribeRouteTables answers in with,
// sorted by ID.
func routeTables(ctx context.Context, client *ec2.Client, in *ec2.DescribeRouteTablesInput) ([]types.RouteTable, error) {
	var tables []types.RouteTable
	pages := ec2.NewDescribeRouteTablesPaginator(client, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe route tables: %w", err)
		}
		tables = append(tables, page.RouteTables...)
	}
	slices.SortFunc(tables, func(a, b types.RouteTable) int {
		return cmp.Compare(aws.ToString(a.RouteTableId), aws.ToString(b.RouteTableId))
	})
	return tables, nil
}
