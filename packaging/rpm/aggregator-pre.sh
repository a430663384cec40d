# pakiti-aggregator: the system user the service runs as (before the files, which it owns).
if ! getent passwd pakiti >/dev/null; then
    useradd --system --user-group --home-dir /var/lib/pakiti --no-create-home \
        --shell /sbin/nologin --comment "pakiti aggregator" pakiti
fi
