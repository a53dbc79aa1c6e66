package main

import (
	"strings"
	"testing"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	const app = `{"apps":[{"id":"my-app","origins":["https://app.example"],"capabilities":["internetClient"]}]}`
	for _, tc := range []struct {
		name    string
		env     map[string]string
		wantErr string // "" means valid
		secret  string
	}{
		{"unset", nil, "SOCKSHIM_CONFIG is not set", ""},
		{"valid", map[string]string{envConfig: app}, "", ""},
		{"secret from env", map[string]string{envConfig: app, "SOCKSHIM_SECRET_MY_APP": "s3cret"}, "", "s3cret"},
		// The native relay's parser and its errors.
		{"broken json", map[string]string{envConfig: `{"apps":[`}, "SOCKSHIM_CONFIG: 1:10: apps: unexpected end", ""},
		{"unknown key", map[string]string{envConfig: `{"apps":[],"nope":1}`}, "nope", ""},
		{"bad capability", map[string]string{envConfig: `{"apps":[{"id":"a","allowNoOrigin":true,"capabilities":["everything"]}]}`}, "everything", ""},
		// What the edge cannot do.
		{"listen", map[string]string{envConfig: `{"apps":[{"id":"a","allowNoOrigin":true,"listen":{"addresses":["127.0.0.1"],"ports":"2000"}}]}`}, "cannot hold listeners", ""},
		{"webrtc", map[string]string{envConfig: `{"apps":[{"id":"a","allowNoOrigin":true,"capabilities":["internetClient"]}],"webrtc":{}}`}, "webrtc", ""},
		{"secret twice", map[string]string{envConfig: strings.Replace(app, `"id":"my-app"`, `"id":"my-app","secret":"x"`, 1), "SOCKSHIM_SECRET_MY_APP": "y"}, "both", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadConfig(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("loadConfig: %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Apps[0].Secret; got != tc.secret {
				t.Errorf("secret %q, want %q", got, tc.secret)
			}
		})
	}
}

func TestSecretEnv(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]string{"my-app": "SOCKSHIM_SECRET_MY_APP", "a.b_c9": "SOCKSHIM_SECRET_A_B_C9", "Zé": "SOCKSHIM_SECRET_Z_"} {
		if got := secretEnv(id); got != want {
			t.Errorf("secretEnv(%q) = %q, want %q", id, got, want)
		}
	}
}
