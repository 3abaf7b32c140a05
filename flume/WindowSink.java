package carpipe.flume;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.apache.flume.Channel;
import org.apache.flume.Context;
import org.apache.flume.Event;
import org.apache.flume.EventDeliveryException;
import org.apache.flume.Transaction;
import org.apache.flume.conf.BatchSizeSupported;
import org.apache.flume.conf.Configurable;
import org.apache.flume.conf.ConfigurationException;
import org.apache.flume.instrumentation.SinkCounter;
import org.apache.flume.sink.AbstractSink;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileAlreadyExistsException;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The agent's HDFS sink (flume/agent_conf.py renders its config; flume/extensions.py builds it): event
 * bodies as JSON lines in {@code <path>/<window header>/<filePrefix>.<n><fileSuffix>}, named with
 * {@code inUseSuffix} while open. WindowInterceptor sets the window header.
 *
 * <p>Why not Flume's HDFS sink: it hands every event to a writer thread and waits (two context switches
 * per event, so one sink moves ~5k events/s on busy cores and four sinks contend on the file channel), and
 * it expands its path pattern per event. This sink takes a batch from the channel, lays its bodies out
 * per window in memory and hands the whole batch to its HDFS thread once: write, hflush, then the channel
 * transaction commits. HDFS calls run on that thread because Flume stops a sink by interrupting its
 * runner thread, and an interrupt must not land in an HDFS stream.
 *
 * <p>Delivery: at-least-once, the same contract as Flume's sink. A batch commits only after its bytes are
 * hflushed; a failed write or flush rolls the batch back into the channel and abandons the files it
 * touched (kept open-named, maybe ending in a partial line; flume/recovery.py closes them on the next
 * run), and the retry writes the batch again in new files, so lines written before the failure repeat.
 *
 * <p>Files close (renamed without the in-use suffix) {@code idleSeconds} after their last write,
 * {@code rollSeconds} after they opened, at {@code rollBytes}, and all of them when the sink stops.
 * An empty channel is polled every {@code pollMillis}, not backed off from for up to 5 s like Flume's
 * sink runner does, so a burst starts being written at once.
 */
public final class WindowSink extends AbstractSink implements Configurable, BatchSizeSupported {
  private static final Logger LOG = LoggerFactory.getLogger(WindowSink.class);
  private static final String NO_WINDOW = WindowInterceptor.NO_TIMESTAMP;

  private URI base;
  private String filePrefix;
  private String fileSuffix;
  private String inUseSuffix;
  private int batchSize;
  private long rollMillis;
  private long idleMillis;
  private long rollBytes;
  private long callTimeoutMillis;
  private long pollMillis;

  private SinkCounter counter;
  private FileSystem fs;
  private ExecutorService hdfs;
  // Touched only on the HDFS thread.
  private final Map<String, OpenFile> open = new LinkedHashMap<>();
  private long fileNumber;

  private final class OpenFile {
    final Path inUse;
    final Path done;
    final FSDataOutputStream out;
    final long opened;
    long lastWrite;
    long bytes;

    OpenFile(Path dir, long now) throws IOException {
      FSDataOutputStream stream = null;
      Path name = null;
      while (stream == null) {
        name = new Path(dir, filePrefix + "." + fileNumber++ + fileSuffix);
        try {
          stream = fs.create(new Path(name.toString() + inUseSuffix), false);
        } catch (FileAlreadyExistsException e) {  // a name a run before this one took: take the next
        }
      }
      done = name;
      inUse = new Path(name.toString() + inUseSuffix);
      out = stream;
      opened = lastWrite = now;
      counter.incrementConnectionCreatedCount();
    }
  }

  @Override
  public void configure(Context context) {
    String path = context.getString("path", "");
    if (path.isEmpty()) {
      throw new ConfigurationException("path (the HDFS base URI, e.g. hdfs://namenode:9000/Cars) is required");
    }
    base = URI.create(path.replaceAll("/+$", ""));
    filePrefix = context.getString("filePrefix", "events");
    fileSuffix = context.getString("fileSuffix", "");
    inUseSuffix = context.getString("inUseSuffix", ".tmp");
    if (inUseSuffix.isEmpty()) {
      throw new ConfigurationException("inUseSuffix must not be empty: open files must be told apart");
    }
    batchSize = (int) Math.min(positive(context, "batchSize", 1000), Integer.MAX_VALUE);
    rollMillis = positive(context, "rollSeconds", 900) * 1000L;
    idleMillis = positive(context, "idleSeconds", 30) * 1000L;
    rollBytes = positive(context, "rollBytes", 128L << 20);
    callTimeoutMillis = positive(context, "callTimeoutSeconds", 60) * 1000L;
    pollMillis = positive(context, "pollMillis", 200);
  }

  private static long positive(Context context, String key, long fallback) {
    String value = context.getString(key, String.valueOf(fallback)).trim();
    long n;
    try {
      n = Long.parseLong(value);
    } catch (NumberFormatException e) {
      n = 0;
    }
    if (n <= 0) {
      throw new ConfigurationException(key + " must be a positive whole number, not '" + value + "'");
    }
    return n;
  }

  @Override
  public long getBatchSize() {
    return batchSize;
  }

  @Override
  public synchronized void start() {
    counter = counter == null ? new SinkCounter(getName()) : counter;
    Configuration conf = new Configuration();
    // Hadoop's shutdown hook would close the file system while Flume's stops this sink and closes files.
    conf.setBoolean("fs.automatic.close", false);
    try {
      fs = FileSystem.newInstance(base, conf);
    } catch (IOException e) {
      throw new IllegalStateException("cannot reach HDFS at " + base + ": " + e, e);
    }
    fileNumber = System.currentTimeMillis();
    hdfs = Executors.newSingleThreadExecutor(r -> new Thread(r, getName() + "-hdfs"));
    counter.start();
    super.start();
    LOG.info("{} writing to {}/<window>/{}.<n>{}", getName(), base, filePrefix, fileSuffix);
  }

  @Override
  public synchronized void stop() {
    if (hdfs == null) {  // never started
      super.stop();
      return;
    }
    try {
      call(() -> {
        for (OpenFile f : new ArrayList<>(open.values())) {
          close(f);
        }
        return null;
      });
    } catch (IOException e) {
      LOG.error("{}: closing files on stop failed; the next run recovers them", getName(), e);
    }
    hdfs.shutdown();
    try {
      fs.close();
    } catch (IOException e) {
      LOG.warn("{}: closing the HDFS client: {}", getName(), e.toString());
    }
    counter.stop();
    super.stop();
  }

  @Override
  public Status process() throws EventDeliveryException {
    Channel channel = getChannel();
    Transaction tx = channel.getTransaction();
    Map<String, ByteArrayOutputStream> batch = new LinkedHashMap<>();
    int taken = 0;
    boolean interrupted = false;
    tx.begin();
    try {
      for (Event e; taken < batchSize && (e = channel.take()) != null; taken++) {
        String window = e.getHeaders().get(WindowInterceptor.WINDOW_HEADER);
        ByteArrayOutputStream lines = batch.computeIfAbsent(window == null ? NO_WINDOW : window,
            w -> new ByteArrayOutputStream(1 << 16));
        lines.writeBytes(e.getBody());
        lines.write('\n');
      }
      if (taken == 0) {
        counter.incrementBatchEmptyCount();
      } else if (taken < batchSize) {
        counter.incrementBatchUnderflowCount();
      } else {
        counter.incrementBatchCompleteCount();
      }
      counter.addToEventDrainAttemptCount(taken);
      long now = System.currentTimeMillis();
      interrupted = Thread.interrupted();  // the runner is stopping: finish this batch first
      call(() -> {
        write(batch, now);
        closeExpired(now);
        return null;
      });
      // An interrupt must not reach the channel's commit either (the file channel writes with NIO).
      interrupted |= Thread.interrupted();
      tx.commit();
      counter.addToEventDrainSuccessCount(taken);
    } catch (IOException e) {
      interrupted |= Thread.interrupted();
      tx.rollback();
      counter.incrementEventWriteFail();
      throw new EventDeliveryException(getName() + ": writing " + taken + " event(s) to HDFS failed", e);
    } catch (Throwable t) {
      interrupted |= Thread.interrupted();
      tx.rollback();
      counter.incrementEventWriteOrChannelFail(t);
      if (t instanceof Error) {
        throw (Error) t;
      }
      throw new EventDeliveryException(getName() + ": " + t, t);
    } finally {
      tx.close();
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
    if (taken == 0 && !Thread.currentThread().isInterrupted()) {
      try {
        Thread.sleep(pollMillis);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    return Status.READY;
  }

  /** HDFS thread: append each window's lines to its open file, then hflush them all. */
  private void write(Map<String, ByteArrayOutputStream> batch, long now) throws IOException {
    List<OpenFile> touched = new ArrayList<>(batch.size());
    try {
      for (Map.Entry<String, ByteArrayOutputStream> lines : batch.entrySet()) {
        OpenFile f = open.get(lines.getKey());
        if (f == null) {
          f = new OpenFile(new Path(base.toString() + "/" + lines.getKey()), now);
          open.put(lines.getKey(), f);
        }
        touched.add(f);
        lines.getValue().writeTo(f.out);
        f.bytes += lines.getValue().size();
        f.lastWrite = now;
      }
      for (OpenFile f : touched) {
        f.out.hflush();
      }
    } catch (IOException e) {
      for (OpenFile f : touched) {
        abandon(f);
      }
      throw e;
    }
    for (OpenFile f : touched) {
      if (f.bytes >= rollBytes) {
        close(f);
      }
    }
  }

  /** HDFS thread: close files idle or open long enough. */
  private void closeExpired(long now) {
    for (OpenFile f : new ArrayList<>(open.values())) {
      if (now - f.lastWrite >= idleMillis || now - f.opened >= rollMillis) {
        close(f);
      }
    }
  }

  /** HDFS thread: close and drop the in-use suffix. Its lines are committed, so a failure leaves the
   * file open-named for recovery instead of failing a batch. */
  private void close(OpenFile f) {
    forget(f);
    try {
      f.out.close();
      if (!fs.rename(f.inUse, f.done)) {
        throw new IOException("rename to " + f.done + " refused");
      }
      counter.incrementConnectionClosedCount();
    } catch (IOException e) {
      counter.incrementConnectionFailedCount();
      LOG.error("{}: closing {} failed; the next run recovers it", getName(), f.inUse, e);
    }
  }

  /** HDFS thread: a file whose last write failed keeps its in-use name (recovery cuts a partial line). */
  private void abandon(OpenFile f) {
    forget(f);
    counter.incrementConnectionFailedCount();
    try {
      f.out.close();
    } catch (IOException e) {
      LOG.warn("{}: closing failed {}: {}", getName(), f.inUse, e.toString());
    }
  }

  private void forget(OpenFile f) {
    open.values().removeIf(o -> o == f);
  }

  /** Run on the HDFS thread and wait, however often this thread is interrupted meanwhile. */
  private <T> T call(Callable<T> task) throws IOException {
    Future<T> result = hdfs.submit(task);
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(callTimeoutMillis);
    boolean interrupted = false;
    try {
      while (true) {
        try {
          return result.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
          interrupted = true;
        } catch (TimeoutException e) {
          result.cancel(true);
          throw new IOException("HDFS call timed out after " + callTimeoutMillis + " ms");
        } catch (ExecutionException e) {
          if (e.getCause() instanceof IOException) {
            throw (IOException) e.getCause();
          }
          throw new IOException(e.getCause());
        }
      }
    } finally {
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }
}
