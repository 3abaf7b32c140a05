package carpipe.flume;

import com.google.gson.Gson;
import java.io.IOException;
import javax.servlet.http.HttpServletRequest;
import javax.servlet.http.HttpServletResponse;
import org.apache.flume.Context;
import org.apache.flume.FlumeException;
import org.apache.flume.instrumentation.MonitorService;
import org.apache.flume.instrumentation.util.JMXPollUtil;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.AbstractHandler;

/**
 * Flume's JSON counters (the same document as its own http monitoring, GET /metrics) on one address:
 * Flume 1.11's HTTPMetricsServer takes a port only and listens on every interface.
 * Configured with -Dflume.monitoring.type=carpipe.flume.BoundMetricsServer, .host and .port.
 */
public class BoundMetricsServer implements MonitorService {
  private String host;
  private int port;
  private Server server;

  @Override
  public void configure(Context context) {
    // Both come from the agent's launch (flume.agent: the config layer's bind host, a free port).
    host = context.getString("host");
    Integer configured = context.getInteger("port");
    if (host == null || host.isEmpty() || configured == null) {
      throw new FlumeException("flume.monitoring.host and flume.monitoring.port must be set");
    }
    port = configured;
  }

  @Override
  public void start() {
    server = new Server();
    ServerConnector connector = new ServerConnector(server);
    connector.setHost(host);
    connector.setPort(port);
    server.addConnector(connector);
    server.setHandler(new AbstractHandler() {
      @Override
      public void handle(String target, Request base, HttpServletRequest request, HttpServletResponse response)
          throws IOException {
        base.setHandled(true);
        if (!"/metrics".equals(target) || !"GET".equals(request.getMethod())) {
          response.sendError(HttpServletResponse.SC_NOT_FOUND);
          return;
        }
        response.setContentType("application/json;charset=utf-8");
        response.setStatus(HttpServletResponse.SC_OK);
        response.getWriter().write(new Gson().toJson(JMXPollUtil.getAllMBeans()));
      }
    });
    try {
      server.start();
    } catch (Exception e) {
      throw new FlumeException("metrics server on " + host + ":" + port + " did not start", e);
    }
  }

  @Override
  public void stop() {
    try {
      if (server != null) {
        server.stop();
      }
    } catch (Exception e) {
      throw new FlumeException("metrics server on " + host + ":" + port + " did not stop", e);
    }
  }
}
