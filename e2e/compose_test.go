package e2e_test

// Compose scenario (7): examples/compose/wait.yaml and healthcheck.yaml, run as shipped
// by compose v2 against the Docker Engine, with only the images and the dependencies
// substituted. Assertions read the engine's state (docker inspect: start and finish
// times, exit codes, the health log), never the clock of a sleep.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/depprobe/depprobe/e2e/images"
	"github.com/depprobe/depprobe/e2e/sandbox"
)

// composeExample writes examples/compose/<name> with the substitutions into a folder of
// the test and returns a function that runs docker-compose on it as project.
func composeExample(t *testing.T, name, project string, repl map[string]string) func(args ...string) (string, error) {
	t.Helper()
	content := substitute(t, filepath.Join(env.repo, "examples", "compose", name), repl)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		return env.engine.ComposeCmd(t.Context(), dir, append([]string{"-p", project, "-f", name}, args...)...)
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := run("logs", "--no-color")
			t.Logf("docker-compose logs:\n%s", out)
		}
		run("down", "--volumes", "--timeout", "1")
	})
	return run
}

// The substitutions every compose example gets: the image built from the Dockerfile, a
// busybox that sleeps for the application, and for the dependencies (postgres, redis)
// busybox's httpd on their ports, the database one starting late.
func composeSubstitutions(dbCommand string) map[string]string {
	return map[string]string{
		"image: ghcr.io/depprobe/depprobe:0.1.0":                    "image: " + images.Depprobe,
		"image: registry.example.com/shop:1.4.2 # your application": "image: " + images.Busybox + "\n    command: [\"sleep\", \"3600\"]",
		"image: postgres:17":                                        "image: " + images.Busybox + "\n    command: " + dbCommand,
		"image: redis:8":                                            "image: " + images.Busybox + "\n    command: [\"httpd\", \"-f\", \"-p\", \"6379\", \"-h\", \"/www\"]",
		"db=postgres://db:5432,cache=redis://cache:6379":            "db=http://db:5432/,cache=http://cache:6379/",
	}
}

const lateDB = `["sh", "-c", "sleep 5; exec httpd -f -p 5432 -h /www"]`

// containerState is what docker inspect says of a container's life.
type containerState struct {
	Status     string
	ExitCode   int
	StartedAt  time.Time
	FinishedAt time.Time
	Health     *struct {
		Status string
		Log    []struct {
			ExitCode int
			Output   string
			Start    time.Time
		}
	}
}

func inspect(t *testing.T, name string) containerState {
	t.Helper()
	out, err := env.engine.Docker(t.Context(), "inspect", "--format", "{{json .State}}", name)
	if err != nil {
		t.Fatal(err)
	}
	var s containerState
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("docker inspect %s: %v: %s", name, err, out)
	}
	return s
}

func TestCompose(t *testing.T) {
	need(t)

	// The one-shot wait gates the app through service_completed_successfully.
	t.Run("wait", func(t *testing.T) {
		compose := composeExample(t, "wait.yaml", "wait", composeSubstitutions(lateDB))
		if out, err := compose("up", "-d"); err != nil {
			t.Fatalf("up: %v\n%s", err, out)
		}
		db, wait, app := inspect(t, "wait-db-1"), inspect(t, "wait-wait-for-deps-1"), inspect(t, "wait-app-1")
		if wait.ExitCode != 0 || wait.Status != "exited" {
			t.Fatalf("wait-for-deps %s, exit code %d; want exited 0", wait.Status, wait.ExitCode)
		}
		// The database answers 5 s after its container starts (sleep 5 in its command).
		if answers := db.StartedAt.Add(5 * time.Second); wait.FinishedAt.Before(answers) {
			t.Errorf("wait-for-deps finished at %s, before the database answered (%s)", wait.FinishedAt, answers)
		}
		if app.StartedAt.Before(wait.FinishedAt) {
			t.Errorf("app started at %s, before wait-for-deps finished at %s", app.StartedAt, wait.FinishedAt)
		}
		t.Logf("db started %s, wait-for-deps finished %s, app started %s",
			db.StartedAt.Format(time.StampMilli), wait.FinishedAt.Format(time.StampMilli), app.StartedAt.Format(time.StampMilli))
	})

	// The healthcheck with depprobe check gates through service_healthy, goes unhealthy
	// when the dependency stops, and its log holds exit codes 0 and 1 only.
	t.Run("healthcheck", func(t *testing.T) {
		compose := composeExample(t, "healthcheck.yaml", "health", composeSubstitutions(lateDB))
		if out, err := compose("up", "-d"); err != nil {
			t.Fatalf("up: %v\n%s", err, out)
		}
		deps, app := inspect(t, "health-deps-1"), inspect(t, "health-app-1")
		if deps.Health == nil || deps.Health.Status != "healthy" {
			t.Fatalf("deps health = %+v when the app was started, want healthy", deps.Health)
		}
		firstOK := time.Time{}
		for _, l := range deps.Health.Log {
			if l.ExitCode == 0 {
				firstOK = l.Start
				break
			}
		}
		if firstOK.IsZero() || app.StartedAt.Before(firstOK) {
			t.Errorf("app started at %s; first passing check at %s: want the app after it", app.StartedAt, firstOK)
		}

		if out, err := compose("stop", "--timeout", "1", "db"); err != nil {
			t.Fatalf("stop db: %v\n%s", err, out)
		}
		var last containerState
		err := sandbox.WaitFor(t.Context(), "deps turns unhealthy", 120*time.Second, time.Second, func() (bool, error) {
			last = inspect(t, "health-deps-1")
			return last.Health.Status == "unhealthy", fmt.Errorf("health %s", last.Health.Status)
		})
		if err != nil {
			t.Fatal(err)
		}
		codes := map[int]int{}
		for _, l := range last.Health.Log {
			codes[l.ExitCode]++
		}
		if codes[1] == 0 || len(codes) > 2 || (len(codes) == 2 && codes[0] == 0) {
			t.Errorf("health log exit codes %v, want only 0 and 1, with 1 present", codes)
		}
		failed := last.Health.Log[len(last.Health.Log)-1]
		t.Logf("last health check (exit %d):\n%s", failed.ExitCode, failed.Output)
		if !strings.Contains(failed.Output, "db") {
			t.Errorf("the failing check's output does not name the db target")
		}
	})

	// A dependency that never comes: wait-for-deps gives up, `up` fails, and the app is
	// never started.
	t.Run("never", func(t *testing.T) {
		repl := composeSubstitutions(`["sleep", "3600"]`) // runs, never listens
		repl["DEPPROBE_TIMEOUT: 2m"] = "DEPPROBE_TIMEOUT: 10s"
		compose := composeExample(t, "wait.yaml", "never", repl)
		out, err := compose("up", "-d")
		if err == nil {
			t.Fatalf("up succeeded, want it to fail:\n%s", out)
		}
		if !strings.Contains(out, "wait-for-deps") {
			t.Errorf("up's output does not name wait-for-deps:\n%s", out)
		}
		if w := inspect(t, "never-wait-for-deps-1"); w.ExitCode != 1 {
			t.Errorf("wait-for-deps exit code %d, want 1", w.ExitCode)
		}
		// compose v2 creates every container before it starts any: the app's exists, and
		// was never started.
		if app := inspect(t, "never-app-1"); app.Status != "created" || !app.StartedAt.IsZero() && app.StartedAt.Year() > 1 {
			t.Errorf("app is %s, started at %s; want created and never started", app.Status, app.StartedAt)
		}
		logs, _ := compose("logs", "--no-color", "wait-for-deps")
		t.Logf("wait-for-deps logs:\n%s", logs)
		if !strings.Contains(logs, "db") {
			t.Errorf("wait-for-deps logs do not name the db target")
		}
	})
}
