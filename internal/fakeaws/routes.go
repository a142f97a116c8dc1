package fakeaws

// RAMRoutes are the routes of the RAM operations astrobot calls, in
// REST-JSON.
func RAMRoutes() []Route {
	return []Route{
		{Pattern: "POST /getresourceshareinvitations", Op: "GetResourceShareInvitations", Protocol: RESTJSON},
		{Pattern: "POST /listpendinginvitationresources", Op: "ListPendingInvitationResources", Protocol: RESTJSON},
		{Pattern: "POST /acceptresourceshareinvitation", Op: "AcceptResourceShareInvitation", Protocol: RESTJSON},
	}
}

// Route53Routes are the routes of the Route 53 operations astrobot calls, in
// REST-XML: the zone or change ID is the wildcard Id.
func Route53Routes() []Route {
	return []Route{
		{Pattern: "POST /2013-04-01/hostedzone/{Id}/associatevpc", Op: "AssociateVPCWithHostedZone", Protocol: RESTXML, Namespace: Route53Namespace},
		{Pattern: "POST /2013-04-01/hostedzone/{Id}/disassociatevpc", Op: "DisassociateVPCFromHostedZone", Protocol: RESTXML, Namespace: Route53Namespace},
		{Pattern: "GET /2013-04-01/hostedzonesbyvpc", Op: "ListHostedZonesByVPC", Protocol: RESTXML, Namespace: Route53Namespace},
		{Pattern: "GET /2013-04-01/change/{Id}", Op: "GetChange", Protocol: RESTXML, Namespace: Route53Namespace},
	}
}
