package mototest

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill cmd when the thread that starts it
// ends, so that a test binary that dies without running Main (a panic, a
// -timeout) leaves no moto_server behind.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
