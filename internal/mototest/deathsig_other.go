//go:build !linux

package mototest

import "os/exec"

// dieWithParent does nothing outside Linux: there only Main stops
// moto_server, so a test binary that dies without running Main (a panic, a
// -timeout) leaves it running.
func dieWithParent(*exec.Cmd) {}
