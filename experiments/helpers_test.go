package experiments

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wireplay/wireplay/link"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newLink(t testing.TB, cfg link.Config) *link.Link {
	t.Helper()
	l, err := link.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close link: %v", err)
		}
	})
	return l
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
