// Package cloud knows where Astro clusters are. It holds the two cluster
// directories of astrobot: Static, read from a YAML file that works without any
// AWS access, and AWS, which discovers cluster VPCs by tag across regions and
// accounts. Cached puts a discoverer behind an in-memory set backed by a
// persistent cache, so that a lookup answers inside Slack's three-second window
// even when AWS is slow.
//
// Every directory speaks in astrobot.Cluster values and reports failures as
// *astrobot.Error.
package cloud
