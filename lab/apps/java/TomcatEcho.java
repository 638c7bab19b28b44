// Minimal echo server: embedded Tomcat 10.1 + Jakarta WebSocket (Debian libtomcat10-embed-java)
import org.apache.catalina.Context;
import org.apache.catalina.startup.Tomcat;
import org.apache.tomcat.websocket.server.WsSci;
import jakarta.websocket.*;
import jakarta.websocket.server.ServerEndpoint;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.util.Set;

public class TomcatEcho {
    @ServerEndpoint("/")
    public static class Echo {
        @OnMessage public void onText(Session s, String msg) throws Exception { s.getBasicRemote().sendText(msg); }
        @OnMessage public void onBinary(Session s, ByteBuffer b) throws Exception { s.getBasicRemote().sendBinary(b); }
    }
    public static void main(String[] args) throws Exception {
        int port = args.length > 0 ? Integer.parseInt(args[0]) : 9001;
        java.nio.file.Path bp = java.nio.file.Paths.get(System.getProperty("lab.base", "/tmp/wsfp-lab/run"), "tomcat-" + port);
        Files.createDirectories(bp);
        String base = bp.toString();
        Tomcat tomcat = new Tomcat();
        tomcat.setBaseDir(base);
        tomcat.setPort(port);
        tomcat.getConnector().setProperty("address", "127.0.0.1");
        Context ctx = tomcat.addContext("", base);
        ctx.addServletContainerInitializer(new WsSci(), Set.of(Echo.class));
        // a servlet must be mapped, otherwise the request 404s before Tomcat's WsFilter sees the upgrade
        Tomcat.addServlet(ctx, "plain", new jakarta.servlet.http.HttpServlet() {
            @Override protected void doGet(jakarta.servlet.http.HttpServletRequest q, jakarta.servlet.http.HttpServletResponse r) throws java.io.IOException {
                r.setContentType("text/plain"); r.getWriter().write("websocket echo lab\n"); }
        });
        ctx.addServletMappingDecoded("/", "plain");
        tomcat.start();
        tomcat.getServer().await();
    }
}
