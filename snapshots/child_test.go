package snapshots

import (
	"bufio"
	"os"
	"os/exec"
	"testing"
)

// StartChildTest runs this test binary again as another process that runs only test,
// with env set to value, and waits for the child to print want on a line of its own: a
// test's second process (one holding a lock, one to be killed mid-write). It returns
// the child, to be killed; cleanup kills it in any case. Exported for the external
// tests of this package.
func StartChildTest(t *testing.T, test, env, value, want string) *exec.Cmd {
	t.Helper()
	child := exec.Command(os.Args[0], "-test.run", "^"+test+"$")
	child.Env = append(os.Environ(), env+"="+value)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		child.Process.Kill()
		child.Wait()
	})
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != want+"\n" {
		t.Fatalf("the child process did not get as far as %q: %q, %v", want, line, err)
	}
	return child
}
