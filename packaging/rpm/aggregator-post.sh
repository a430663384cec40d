# pakiti-aggregator: its state directory; the database and the user stay on removal.
mkdir -p /var/lib/pakiti
chown pakiti:pakiti /var/lib/pakiti
chmod 0750 /var/lib/pakiti
if [ "$1" -eq 1 ]; then
    echo "pakiti-aggregator: edit /etc/pakiti/aggregator.toml ([[client]] tokens or certificates, [web] access),"
    echo "then: systemctl enable --now pakiti-aggregator"
fi
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || :; fi
