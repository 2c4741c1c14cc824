#!/usr/bin/env bash
# Debian packages the tests use for real: Prometheus + promtool, Alertmanager + amtool,
# Chromium + ChromeDriver (nurse-station page), stunnel4 (Kafka over TLS in front of the
# embedded broker). Installs only what is missing; needs root (CI runs as root) or sudo.
set -euo pipefail

need=()
command -v prometheus   >/dev/null 2>&1 || need+=(prometheus)
command -v promtool     >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || command -v alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v amtool       >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v chromium     >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v stunnel4     >/dev/null 2>&1 || need+=(stunnel4)
[ ${#need[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing Debian packages: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# --no-install-recommends: no services are started or enabled; the tests start their own.
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
