# On removal (not on upgrade), stop the units and take them out of the boot targets.
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
    systemctl disable --now pakiti-exporter.service pakiti-push.timer >/dev/null 2>&1 || :
fi
