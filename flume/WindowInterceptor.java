package carpipe.flume;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.flume.Context;
import org.apache.flume.Event;
import org.apache.flume.conf.ConfigurationException;
import org.apache.flume.interceptor.Interceptor;

/**
 * The Kafka source's one interceptor (flume/agent_conf.py renders its config; flume/interceptor.py builds it).
 *
 * <p>Per event, in one pass and without regexes or calendars (Flume's own time escapes in hdfs.path cost
 * the HDFS sink ~15 us per event on our 2-core machine, its search_replace interceptor another regex):
 * <ol>
 *   <li>the "window" header: the pipeline window the record's Kafka timestamp (the source's "timestamp"
 *       header, the broker's LogAppendTime on our topic) falls in, as the HDFS directory
 *       {@code yyyy-MM-dd/HH-mm-ss} of its start in UTC, the layout of carpipe.windows.Window.hdfs_dir;
 *       a record without a timestamp goes to {@value #NO_TIMESTAMP} (never silently into a window);</li>
 *   <li>one record stays one line: raw CR/LF bytes are removed (valid JSON never holds them raw, so
 *       valid records pass unchanged; other bytes, even invalid UTF-8, are kept as they are);</li>
 *   <li>the Kafka source's "partition" and "offset" headers are kept (the channel selector and the sink
 *       read them); every other header is dropped: nothing downstream reads them, and the file channel
 *       writes and reads each header of each event.</li>
 * </ol>
 */
public final class WindowInterceptor implements Interceptor {
  public static final String WINDOW_HEADER = "window";
  public static final String TIMESTAMP_HEADER = "timestamp";
  public static final String NO_TIMESTAMP = "no-timestamp";
  /** Set by Flume's Kafka source; the channel selector routes by partition, WindowSink names files by both. */
  public static final String PARTITION_HEADER = "partition";
  public static final String OFFSET_HEADER = "offset";
  private static final String[] KEPT_HEADERS = {PARTITION_HEADER, OFFSET_HEADER};
  private static final DateTimeFormatter DIR =
      DateTimeFormatter.ofPattern("yyyy-MM-dd/HH-mm-ss").withZone(ZoneOffset.UTC);

  private final long windowMillis;
  // Records arrive in timestamp order per partition: the last window's directory is nearly always the next one's.
  private long lastStart = Long.MIN_VALUE;
  private String lastDir = "";

  private WindowInterceptor(long windowMillis) {
    this.windowMillis = windowMillis;
  }

  /** The window directory of a Kafka timestamp header value (epoch milliseconds). */
  public String windowDir(String timestamp) {
    long millis;
    try {
      millis = Long.parseLong(timestamp);
    } catch (NumberFormatException e) {  // also a missing header (null)
      return NO_TIMESTAMP;
    }
    if (millis < 0) {  // Kafka's "no timestamp" (-1)
      return NO_TIMESTAMP;
    }
    long start = Math.floorDiv(millis, windowMillis) * windowMillis;
    if (start != lastStart) {
      lastDir = DIR.format(Instant.ofEpochMilli(start));
      lastStart = start;
    }
    return lastDir;
  }

  /** The body without raw CR/LF bytes (the same array when it has none). */
  public static byte[] oneLine(byte[] body) {
    int breaks = 0;
    for (byte b : body) {
      if (b == '\r' || b == '\n') {
        breaks++;
      }
    }
    if (breaks == 0) {
      return body;
    }
    byte[] out = new byte[body.length - breaks];
    int j = 0;
    for (byte b : body) {
      if (b != '\r' && b != '\n') {
        out[j++] = b;
      }
    }
    return out;
  }

  @Override
  public Event intercept(Event event) {
    Map<String, String> in = event.getHeaders();
    Map<String, String> headers = new HashMap<>(4);
    headers.put(WINDOW_HEADER, windowDir(in.get(TIMESTAMP_HEADER)));
    for (String kept : KEPT_HEADERS) {
      String value = in.get(kept);
      if (value != null) {
        headers.put(kept, value);
      }
    }
    event.setHeaders(headers);
    event.setBody(oneLine(event.getBody()));
    return event;
  }

  @Override
  public List<Event> intercept(List<Event> events) {
    for (Event event : events) {
      intercept(event);
    }
    return events;
  }

  @Override
  public void initialize() {
  }

  @Override
  public void close() {
  }

  public static class Builder implements Interceptor.Builder {
    private long windowSeconds;

    @Override
    public void configure(Context context) {
      String value = context.getString("windowSeconds");
      try {
        windowSeconds = Long.parseLong(value == null ? "" : value.trim());
      } catch (NumberFormatException e) {
        windowSeconds = 0;
      }
      if (windowSeconds <= 0) {
        throw new ConfigurationException("windowSeconds must be a positive number of seconds, not '" + value + "'");
      }
    }

    @Override
    public Interceptor build() {
      return new WindowInterceptor(windowSeconds * 1000);
    }
  }
}
