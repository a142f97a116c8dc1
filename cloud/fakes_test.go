package cloud_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// routeTableXML describes route table id of the fake cluster VPC with
// routes CIDR → target (a tgw-, pcx- or igw- ID), after its local route, as
// DescribeRouteTables does.
func routeTableXML(id string, routes map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<item><routeTableId>%s</routeTableId><vpcId>%s</vpcId><routeSet>", id, fakeClusterVPC)
	b.WriteString("<item><destinationCidrBlock>10.9.0.0/16</destinationCidrBlock><gatewayId>local</gatewayId><state>active</state></item>")
	for _, cidr := range slices.Sorted(maps.Keys(routes)) {
		elem := map[string]string{"tgw-": "transitGatewayId", "pcx-": "vpcPeeringConnectionId", "igw-": "gatewayId"}[routes[cidr][:4]]
		fmt.Fprintf(&b, "<item><destinationCidrBlock>%s</destinationCidrBlock><%s>%s</%s><state>active</state></item>", cidr, elem, routes[cidr], elem)
	}
	b.WriteString("</routeSet></item>")
	return b.String()
}
