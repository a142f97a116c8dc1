package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/astrobot-dev/astrobot/internal/fakeslack"
)

// astrobotCmd runs an admin command with env and returns its output.
func astrobotCmd(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestE2EAdminCommands backs up a running bot under load, reads the backup with
// the admin commands, and reads the running bot through its admin endpoint.
func TestE2EAdminCommands(t *testing.T) {
	slack := fakeslack.New(fakeslack.WithTest(t))
	defer slack.Close()
	dir := t.TempDir()
	// The admin commands need the endpoint's address: a free port, not :0.
	env := botEnv(t, slack, filepath.Join(dir, "live.db"), "ASTROBOT_ADMIN_ADDR="+freeAddr(t))
	p := start(t, env)

	// Load: submissions keep coming while the backup is taken.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				f := peerForm{viewID: fmt.Sprintf("V-%d-%d", g, i), cluster: "clx123abc", account: "123456789012", region: "us-east-1",
					vpc: fmt.Sprintf("vpc-%08x", g<<20|i), cidrs: fmt.Sprintf("172.%d.%d.0/24", 16+g, i%256)}
				if i >= 250 {
					return
				}
				post(t, p.httpURL, form, submission(f, "U0001", "T0001", "C0001"), time.Now(), testSecret)
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	backupFile := filepath.Join(dir, "backup.db")
	out, err := astrobotCmd(t, env, "backup", backupFile)
	close(stop)
	wg.Wait()
	if err != nil || !strings.Contains(out, "wrote "+backupFile) {
		t.Fatalf("astrobot backup while running: %v\n%s", err, out)
	}

	// The backup opens as a database: requests list reads it directly.
	backupEnv := append(append([]string{}, env...), "ASTROBOT_DB="+backupFile)
	out, err = astrobotCmd(t, backupEnv, "requests", "list", "--limit", "0")
	if err != nil || !strings.Contains(out, "PEER-0001") || !strings.Contains(out, "submitted") {
		t.Fatalf("requests list on the backup: %v\n%s", err, out)
	}

	// The running bot answers through its admin endpoint.
	out, err = astrobotCmd(t, env, "requests", "show", "PEER-0001")
	if err != nil || !strings.Contains(out, "PEER-0001") || !strings.Contains(out, "submit") || !strings.Contains(out, "clx123abc") {
		t.Fatalf("requests show while running: %v\n%s", err, out)
	}
	out, err = astrobotCmd(t, env, "requests", "list", "--status", "submitted", "--limit", "3")
	if err != nil || strings.Count(out, "PEER-") != 3 {
		t.Fatalf("requests list --status while running: %v\n%s", err, out)
	}
	if out, err := astrobotCmd(t, env, "requests", "show", "PEER-9999"); err == nil || !strings.Contains(out, "PEER-9999") {
		t.Fatalf("requests show of a missing request: %v\n%s", err, out)
	}
	if out, err := astrobotCmd(t, env, "requests", "list", "--status", "bogus"); err == nil || !strings.Contains(out, "unknown status") {
		t.Fatalf("requests list --status bogus: %v\n%s", err, out)
	}
	if err := p.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Stopped: the same commands read the file.
	out, err = astrobotCmd(t, env, "requests", "show", "1")
	if err != nil || !strings.Contains(out, "PEER-0001") {
		t.Fatalf("requests show while stopped: %v\n%s", err, out)
	}
}
