package broker_test

import (
	"testing"

	"github.com/wireplay/wireplay/broker"
	"github.com/wireplay/wireplay/broker/brokertest"
)

func TestMemoryContract(t *testing.T) {
	brokertest.Run(t, func(t *testing.T) brokertest.Connect {
		first := broker.NewMemory()
		used := false
		return func(opts ...broker.Option) broker.Broker {
			if !used {
				used = true
				if len(opts) == 0 {
					return first
				}
			}
			return first.Connect(opts...)
		}
	})
}
