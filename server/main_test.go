package server_test

import (
	"os"
	"testing"

	"github.com/wireplay/wireplay/servermodels"
)

// TestMain lets this test binary be a child of the server-models lesson's process model, which
// starts the running binary again with an accepted socket (a page or room may run that lesson).
func TestMain(m *testing.M) {
	servermodels.RunChild()
	os.Exit(m.Run())
}
