// Package bot wires astrobot together and runs it: configuration, the Socket
// Mode and HTTP transports with request signature verification, the outbox
// delivery worker, and the health and metrics endpoints.
package bot
