#!/bin/bash
# Launch one of the Java echo servers (single-file source launch, Java 17) ; usage: java_run.sh jetty|tomcat|netty PORT
#   or a variant app (lab/variants.tsv): java_run.sh jetty-variant PORT silent|push
J=/usr/share/java; D="$(cd "$(dirname "$0")" && pwd)/java"
case "$1" in
  jetty|jetty-variant)  CP=$(ls $J/jetty9-{server,servlet,http,io,util,security,xml,util-ajax,websocket-api,websocket-common,websocket-server,websocket-servlet,websocket-client}.jar $J/servlet-api.jar 2>/dev/null | tr '\n' :)
          SRC=JettyEcho.java; [ "$1" = jetty-variant ] && SRC=JettyVariant.java ;;
  tomcat) CP=$J/tomcat10-embed-core.jar:$J/tomcat10-embed-websocket.jar:$J/tomcat10-embed-el.jar:$J/tomcat10-annotations-api.jar; SRC=TomcatEcho.java ;;
  netty)  CP=$(ls $J/netty-{common,buffer,transport,codec,codec-http,handler,resolver}.jar | tr "\n" :); SRC=NettyEcho.java ;;
esac
exec java -Xmx256m -Dlab.base="${WSFP_LAB_RUN:-${WSFP_LAB:-/tmp/wsfp-lab}/run}" -cp "$CP" "$D/$SRC" "${2:-9001}" "${@:3}"
