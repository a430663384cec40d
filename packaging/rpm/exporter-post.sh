if [ "$1" -eq 1 ]; then
    echo "pakiti-exporter: serve metrics with: systemctl enable --now pakiti-exporter"
    echo "or push to an aggregator: set [push] urls in /etc/pakiti/exporter.toml, then"
    echo "systemctl enable --now pakiti-push.timer"
fi
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || :; fi
