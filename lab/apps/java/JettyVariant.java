// Variant app for Jetty 9.4 native WebSocket (same library as JettyEcho.java, different app behaviour).
// usage (via java_run.sh jetty-variant PORT MODE): JettyVariant PORT silent|push
//   silent: accept, discard every message, never send a data message
//   push:   accept, never echo, send a text message every 100 ms (like STEWS's ws server-stats app)
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.servlet.ServletContextHandler;
import org.eclipse.jetty.servlet.ServletHolder;
import org.eclipse.jetty.websocket.api.Session;
import org.eclipse.jetty.websocket.api.annotations.*;
import org.eclipse.jetty.websocket.servlet.WebSocketServlet;
import org.eclipse.jetty.websocket.servlet.WebSocketServletFactory;
import java.util.concurrent.*;

public class JettyVariant {
    static boolean push;
    static final long START = System.nanoTime();
    static final ScheduledExecutorService TIMER = Executors.newScheduledThreadPool(2);

    @WebSocket
    public static class Handler {
        ScheduledFuture<?> task;
        long seq;
        @OnWebSocketConnect public void onConnect(Session s) {
            if (!push) return;
            task = TIMER.scheduleAtFixedRate(() -> {
                if (!s.isOpen()) return;
                String msg = String.format("{\"seq\":%d,\"uptime\":%.3f}", ++seq, (System.nanoTime() - START) / 1e9);
                s.getRemote().sendString(msg, null); // async; never blocks the timer
            }, 100, 100, TimeUnit.MILLISECONDS);
        }
        @OnWebSocketMessage public void onText(Session s, String msg) {}
        @OnWebSocketMessage public void onBinary(Session s, byte[] b, int off, int len) {}
        @OnWebSocketClose public void onClose(int code, String reason) { if (task != null) task.cancel(false); }
        @OnWebSocketError public void onError(Throwable t) { if (task != null) task.cancel(false); }
    }
    public static class VariantServlet extends WebSocketServlet {
        @Override public void configure(WebSocketServletFactory f) { f.register(Handler.class); }
    }
    public static void main(String[] args) throws Exception {
        int port = args.length > 0 ? Integer.parseInt(args[0]) : 9001;
        String mode = args.length > 1 ? args[1] : "silent";
        if (!mode.equals("silent") && !mode.equals("push")) { System.err.println("unknown mode " + mode + " (silent|push)"); System.exit(2); }
        push = mode.equals("push");
        Server server = new Server();
        ServerConnector c = new ServerConnector(server);
        c.setHost("127.0.0.1"); c.setPort(port);
        server.addConnector(c);
        ServletContextHandler ctx = new ServletContextHandler();
        ctx.setContextPath("/");
        ctx.addServlet(new ServletHolder(new VariantServlet()), "/");
        server.setHandler(ctx);
        server.start(); server.join();
    }
}
