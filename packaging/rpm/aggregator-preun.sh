# On removal (not on upgrade), stop the service and take it out of the boot targets.
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
    systemctl disable --now pakiti-aggregator.service >/dev/null 2>&1 || :
fi
