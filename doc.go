// Package astrobot holds the domain of the astrobot Slack app: clusters and the
// organizations that own them, peering requests and their state machine, audit
// events, the notifications a change produces, input validation, and the error
// type every other package reports through.
//
// It uses the standard library only, does no I/O and never reads the clock:
// callers pass the time in.
package astrobot
