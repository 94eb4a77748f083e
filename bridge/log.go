package bridge

import (
	"fmt"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// NewLogger builds the process logger: JSON in production, console in
// development. The returned logger's level can be changed at run time
// through the admin endpoint (PUT /loglevel) with the returned level.
func NewLogger(c LogConfig) (*zap.Logger, zap.AtomicLevel, error) {
	lvl, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, zap.AtomicLevel{}, fmt.Errorf("log.level: %w", err)
	}
	var zc zap.Config
	switch c.Format {
	case "console":
		zc = zap.NewDevelopmentConfig()
	default:
		zc = zap.NewProductionConfig()
		zc.Sampling = nil
		zc.EncoderConfig.TimeKey = "ts"
		zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	}
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.DisableStacktrace = true
	log, err := zc.Build()
	if err != nil {
		return nil, zap.AtomicLevel{}, fmt.Errorf("build logger: %w", err)
	}
	return log, zc.Level, nil
}

// ErrField is zap.Error, re-exported so main needs no zap import.
func ErrField(err error) zap.Field { return zap.Error(err) }
