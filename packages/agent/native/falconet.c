/*
 * System calls Node does not offer in the form the collectors need:
 *
 * adjtimex(2) for the timex collector: the kernel's NTP state (offset, frequency, error
 * estimates, PPS counters) is exposed nowhere in /proc or /sys.
 *
 * statfs(2) on a thread of its own for the filesystem collector: Node's fs.statfs runs on the
 * libuv thread pool, and a call into a hung NFS or FUSE mount never returns. Four such calls
 * exhaust the pool, stalling every other file operation, and the process cannot even exit,
 * because exiting joins the pool's threads. Here each call runs on a detached thread that the
 * process never waits for.
 *
 * pread(2) of kernel files kept open, many per call, and madvise(2) to unmap the pages of the
 * node binary that only served the start (below).
 *
 * One ICMP echo for the icmp probe: Node has no ICMP sockets, and running `ping` would put a
 * process start (milliseconds) inside the time the probe reports (below).
 */
#define _GNU_SOURCE /* dladdr */
#include <node_api.h>

#ifdef __linux__
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <sys/timex.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#endif

static void set_number(napi_env env, napi_value obj, const char *key, double value) {
  napi_value n;
  napi_create_double(env, value, &n);
  napi_set_named_property(env, obj, key, n);
}

#ifdef __linux__

static napi_value read_timex(napi_env env, napi_callback_info info) {
  (void)info;
  struct timex tx;
  memset(&tx, 0, sizeof tx); /* modes = 0: read only, change nothing */
  int state = adjtimex(&tx);
  if (state < 0) {
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }
  napi_value obj;
  napi_create_object(env, &obj);
  set_number(env, obj, "state", state);
  set_number(env, obj, "offset", (double)tx.offset);
  set_number(env, obj, "freq", (double)tx.freq);
  set_number(env, obj, "maxerror", (double)tx.maxerror);
  set_number(env, obj, "esterror", (double)tx.esterror);
  set_number(env, obj, "status", (double)tx.status);
  set_number(env, obj, "constant", (double)tx.constant);
  set_number(env, obj, "precision", (double)tx.precision);
  set_number(env, obj, "tolerance", (double)tx.tolerance);
  set_number(env, obj, "tick", (double)tx.tick);
  set_number(env, obj, "ppsfreq", (double)tx.ppsfreq);
  set_number(env, obj, "jitter", (double)tx.jitter);
  set_number(env, obj, "shift", (double)tx.shift);
  set_number(env, obj, "stabil", (double)tx.stabil);
  set_number(env, obj, "jitcnt", (double)tx.jitcnt);
  set_number(env, obj, "calcnt", (double)tx.calcnt);
  set_number(env, obj, "errcnt", (double)tx.errcnt);
  set_number(env, obj, "stbcnt", (double)tx.stbcnt);
  set_number(env, obj, "tai", (double)tx.tai);
  return obj;
}

typedef struct {
  char *path;
  napi_deferred deferred;
  int err;
  struct statfs st;
} statfs_request;

static napi_threadsafe_function deliver;

/* Back on the JavaScript thread: settle the promise. env is NULL when the process is exiting. */
static void settle(napi_env env, napi_value cb, void *context, void *data) {
  (void)cb;
  (void)context;
  statfs_request *r = data;
  if (env != NULL) {
    if (r->err == 0) {
      napi_value obj;
      napi_create_object(env, &obj);
      set_number(env, obj, "type", (double)r->st.f_type);
      set_number(env, obj, "bsize", (double)r->st.f_bsize);
      set_number(env, obj, "blocks", (double)r->st.f_blocks);
      set_number(env, obj, "bfree", (double)r->st.f_bfree);
      set_number(env, obj, "bavail", (double)r->st.f_bavail);
      set_number(env, obj, "files", (double)r->st.f_files);
      set_number(env, obj, "ffree", (double)r->st.f_ffree);
      napi_resolve_deferred(env, r->deferred, obj);
    } else {
      napi_value msg, code, error;
      napi_create_string_utf8(env, strerror(r->err), NAPI_AUTO_LENGTH, &msg);
      napi_create_int32(env, r->err, &code);
      napi_create_error(env, NULL, msg, &error);
      napi_set_named_property(env, error, "errno", code);
      napi_reject_deferred(env, r->deferred, error);
    }
  }
  free(r->path);
  free(r);
}

static void *run_statfs(void *arg) {
  statfs_request *r = arg;
  r->err = statfs(r->path, &r->st) == 0 ? 0 : errno;
  napi_call_threadsafe_function(deliver, r, napi_tsfn_blocking);
  return NULL;
}

static napi_value statfs_js(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  size_t len = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], NULL, 0, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "statfs(path): path must be a string");
    return NULL;
  }
  statfs_request *r = calloc(1, sizeof *r);
  r->path = malloc(len + 1);
  napi_get_value_string_utf8(env, argv[0], r->path, len + 1, &len);
  napi_value promise;
  napi_create_promise(env, &r->deferred, &promise);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_t thread;
  int rc = pthread_create(&thread, &attr, run_statfs, r);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    r->err = rc;
    settle(env, NULL, NULL, r);
  }
  return promise;
}

/*
 * Kernel files kept open between scrapes. A procfs or sysfs file read again from offset 0 is
 * generated afresh by the kernel, so the collectors open each file once and then only pread() it:
 * the open() is most of the cost of a sysfs attribute, and an interface has some twenty of them.
 *
 * openFiles(dir, names): an Int32Array of descriptors, openat() relative to dir, -errno where a
 * file cannot be opened. readFds(fds): the text of each sysfs attribute, read from offset 0 in one
 * read, undefined for a negative descriptor or a failed read (EINVAL from a device that cannot
 * report it now). readFd(fd, oneRead): one file's text, or -errno; oneRead as read_from_start
 * says. closeFds(fds) closes the non-negative ones.
 */
static char *read_buf = NULL;
static size_t read_cap = 0;

/*
 * Reads a whole file from offset 0 into read_buf; its length, or -errno. A file the kernel hands
 * over in one read (a sysfs attribute, a sysctl, a procfs file made by one show()) is done after a
 * read that returns less than asked: asking again at its end would make the kernel generate it a
 * second time only to answer 0. Other seq_files can return less than asked before their end, and
 * are read on to 0.
 */
static ssize_t read_from_start(int fd, bool one_read) {
  if (read_buf == NULL) {
    read_cap = 65536;
    read_buf = malloc(read_cap);
    if (read_buf == NULL) return -ENOMEM;
  }
  size_t used = 0;
  for (;;) {
    if (used == read_cap) {
      char *bigger = realloc(read_buf, read_cap * 2);
      if (bigger == NULL) return -ENOMEM;
      read_buf = bigger;
      read_cap *= 2;
    }
    size_t room = read_cap - used;
    ssize_t n = pread(fd, read_buf + used, room, (off_t)used);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) break;
    used += (size_t)n;
    if (one_read && (size_t)n < room) break;
  }
  return (ssize_t)used;
}

/* Kernel text is nearly always ASCII: a one-byte string skips the UTF-8 decoder. */
static napi_value text_value(napi_env env, size_t len) {
  napi_value v;
  for (size_t i = 0; i < len; i++) {
    if ((unsigned char)read_buf[i] >= 0x80) {
      napi_create_string_utf8(env, read_buf, len, &v);
      return v;
    }
  }
  napi_create_string_latin1(env, read_buf, len, &v);
  return v;
}

/* The Int32Array of descriptors a call got as its first argument; NULL (an exception thrown) otherwise. */
static int32_t *fds_of_call(napi_env env, napi_callback_info info, size_t *count) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_typedarray_type type;
  void *data = NULL;
  if (argc < 1 || napi_get_typedarray_info(env, argv[0], &type, count, &data, NULL, NULL) != napi_ok || type != napi_int32_array) {
    napi_throw_type_error(env, NULL, "expected an Int32Array of file descriptors");
    return NULL;
  }
  return data;
}

static napi_value open_files(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char dir[4096];
  size_t len = 0;
  uint32_t count = 0;
  bool is_array = false;
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], dir, sizeof dir, &len) != napi_ok || len >= sizeof dir - 1 ||
      napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array) {
    napi_throw_type_error(env, NULL, "openFiles(dir, names): dir must be a path and names an array of file names");
    return NULL;
  }
  napi_get_array_length(env, argv[1], &count);
  napi_value buffer, result;
  int32_t *fds = NULL;
  napi_create_arraybuffer(env, count * sizeof(int32_t), (void **)&fds, &buffer);
  napi_create_typedarray(env, napi_int32_array, count, buffer, 0, &result);
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int dir_err = dfd < 0 ? errno : 0;
  for (uint32_t i = 0; i < count; i++) {
    char name[256];
    size_t name_len = 0;
    napi_value name_value;
    napi_get_element(env, argv[1], i, &name_value);
    if (dfd < 0) {
      fds[i] = -dir_err;
    } else if (napi_get_value_string_utf8(env, name_value, name, sizeof name, &name_len) != napi_ok || name_len >= sizeof name - 1) {
      fds[i] = -EINVAL;
    } else {
      int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
      fds[i] = fd >= 0 ? fd : -errno;
    }
  }
  if (dfd >= 0) close(dfd);
  return result;
}

static napi_value read_fds(napi_env env, napi_callback_info info) {
  size_t count = 0;
  int32_t *fds = fds_of_call(env, info, &count);
  if (fds == NULL) return NULL;
  napi_value result, undef;
  napi_create_array_with_length(env, count, &result);
  napi_get_undefined(env, &undef);
  for (size_t i = 0; i < count; i++) {
    ssize_t len = fds[i] < 0 ? -1 : read_from_start(fds[i], true);
    napi_set_element(env, result, (uint32_t)i, len < 0 ? undef : text_value(env, (size_t)len));
  }
  return result;
}

static napi_value read_fd(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd = -1;
  bool one_read = false;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "readFd(fd, oneRead): fd must be a file descriptor");
    return NULL;
  }
  if (argc >= 2) napi_get_value_bool(env, argv[1], &one_read);
  ssize_t len = read_from_start(fd, one_read);
  if (len >= 0) return text_value(env, (size_t)len);
  napi_value err;
  napi_create_int32(env, (int32_t)len, &err);
  return err;
}

static napi_value close_fds(napi_env env, napi_callback_info info) {
  size_t count = 0;
  int32_t *fds = fds_of_call(env, info, &count);
  if (fds == NULL) return NULL;
  for (size_t i = 0; i < count; i++) {
    if (fds[i] >= 0) close(fds[i]);
    fds[i] = -EBADF;
  }
  return NULL;
}

/*
 * dropPages(address, length): madvise(MADV_DONTNEED) over a range of this process's own mapping
 * of a file, 0 or -errno. For clean, file-backed, read-only pages this only unmaps them: the page
 * cache keeps the data, and a later access maps the page back from the file. The caller picks the
 * ranges (read-only mappings of the node binary without a private copy of any page).
 */
static napi_value drop_pages(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  double address = 0, length = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  long page = sysconf(_SC_PAGESIZE);
  if (argc < 2 || napi_get_value_double(env, argv[0], &address) != napi_ok || napi_get_value_double(env, argv[1], &length) != napi_ok ||
      address <= 0 || length <= 0 || (uintptr_t)address % (uintptr_t)page != 0 || (uintptr_t)length % (uintptr_t)page != 0) {
    napi_throw_type_error(env, NULL, "dropPages(address, length): a page-aligned range");
    return NULL;
  }
  int rc = madvise((void *)(uintptr_t)address, (size_t)length, MADV_DONTNEED) == 0 ? 0 : -errno;
  napi_value result;
  napi_create_int32(env, rc, &result);
  return result;
}

/*
 * trimMalloc(): malloc_trim(0), returning the C heap's free pages to the system (the compiler's
 * zone memory of the start, freed but kept by the allocator). true when some memory was released.
 */
static napi_value trim_malloc(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  napi_get_boolean(env, malloc_trim(0) == 1, &result);
  return result;
}

/*
 * icmpEcho(address, family, timeoutMs): one ICMP echo request and its reply, on a detached
 * thread of its own (a target that never answers must not hold one of libuv's four pool threads
 * for the whole timeout), timed as blackbox_exporter times it: `setup` from before opening the
 * socket to the request built, `rtt` from before sending to the matching reply. The socket is the unprivileged
 * kind (SOCK_DGRAM, IPPROTO_ICMP) where net.ipv4.ping_group_range allows this process's group,
 * else a raw one (root or CAP_NET_RAW). Resolves {error (0 or errno), setup, rtt (seconds),
 * hopLimit (-1 when unknown), stage ("socket", "send", "receive")}; ETIMEDOUT when no reply came.
 */
typedef struct {
  napi_threadsafe_function done;
  napi_deferred deferred;
  napi_env env;
  /* Under echo_lock: the thread has handed its answer to done; the calling thread is ending, so done must not be touched. */
  int thread_finished;
  int abandoned;
  char address[INET6_ADDRSTRLEN];
  int family;
  int timeout_ms;
  int error;
  const char *stage;
  double setup;
  double rtt;
  int hop_limit;
} echo_request;

static atomic_uint echo_sequence;

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint16_t inet_checksum(const uint8_t *b, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t)(b[i] << 8 | b[i + 1]);
  if (n & 1) sum += (uint32_t)(b[n - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

static void echo_execute(echo_request *r) {
  int v6 = r->family == 6;
  struct sockaddr_storage dst;
  socklen_t dst_len;
  memset(&dst, 0, sizeof dst);
  if (v6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&dst;
    a->sin6_family = AF_INET6;
    inet_pton(AF_INET6, r->address, &a->sin6_addr);
    dst_len = sizeof *a;
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&dst;
    a->sin_family = AF_INET;
    inet_pton(AF_INET, r->address, &a->sin_addr);
    dst_len = sizeof *a;
  }
  double setup_start = now_seconds();
  int proto = v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
  int raw = 0;
  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, proto);
  if (fd < 0) {
    raw = 1;
    fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_RAW | SOCK_CLOEXEC, proto);
  }
  if (fd < 0) {
    r->error = errno;
    r->stage = "socket";
    return;
  }
  int on = 1;
  if (v6) setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &on, sizeof on);
  else setsockopt(fd, IPPROTO_IP, IP_RECVTTL, &on, sizeof on);
  /* The kernel sets the identifier of an unprivileged socket (its local port); a raw one uses ours. */
  uint16_t ident = (uint16_t)(getpid() & 0xffff);
  uint16_t seq = (uint16_t)(atomic_fetch_add(&echo_sequence, 1) + 1);
  static const char payload[] = "Falconet agent probe";
  uint8_t packet[8 + sizeof payload - 1];
  memset(packet, 0, sizeof packet);
  packet[0] = v6 ? 128 : 8;
  packet[4] = ident >> 8;
  packet[5] = ident & 0xff;
  packet[6] = seq >> 8;
  packet[7] = seq & 0xff;
  memcpy(packet + 8, payload, sizeof payload - 1);
  /* IPv4 raw sockets need the checksum; the kernel fills it for ICMPv6 and for datagram sockets. */
  if (!v6) {
    uint16_t c = inet_checksum(packet, sizeof packet);
    packet[2] = c >> 8;
    packet[3] = c & 0xff;
  }
  r->setup = now_seconds() - setup_start;
  double rtt_start = now_seconds();
  if (sendto(fd, packet, sizeof packet, 0, (struct sockaddr *)&dst, dst_len) < 0) {
    r->error = errno;
    r->stage = "send";
    close(fd);
    return;
  }
  double deadline = rtt_start + r->timeout_ms / 1000.0;
  uint8_t buf[1500];
  char control[256];
  for (;;) {
    int left = (int)((deadline - now_seconds()) * 1000);
    struct pollfd p = {fd, POLLIN, 0};
    int n = left > 0 ? poll(&p, 1, left) : 0;
    if (n <= 0) {
      r->error = n == 0 ? ETIMEDOUT : errno;
      r->stage = "receive";
      break;
    }
    struct sockaddr_storage from;
    struct iovec iov = {buf, sizeof buf};
    struct msghdr msg = {&from, sizeof from, &iov, 1, control, sizeof control, 0};
    ssize_t got = recvmsg(fd, &msg, 0);
    if (got < 0) continue;
    const uint8_t *icmp = buf;
    /* A raw IPv4 socket hands over the IP header too. */
    if (raw && !v6) {
      size_t ihl = (size_t)(buf[0] & 0x0f) * 4;
      if ((size_t)got < ihl + 8) continue;
      icmp = buf + ihl;
      got -= (ssize_t)ihl;
    }
    if (got < 8 || icmp[0] != (v6 ? 129 : 0)) continue;
    if ((uint16_t)(icmp[6] << 8 | icmp[7]) != seq) continue;
    if (raw && (uint16_t)(icmp[4] << 8 | icmp[5]) != ident) continue;
    int same = v6 ? memcmp(&((struct sockaddr_in6 *)&from)->sin6_addr, &((struct sockaddr_in6 *)&dst)->sin6_addr, 16) == 0
                  : ((struct sockaddr_in *)&from)->sin_addr.s_addr == ((struct sockaddr_in *)&dst)->sin_addr.s_addr;
    if (!same) continue;
    r->rtt = now_seconds() - rtt_start;
    r->hop_limit = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if ((!v6 && c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) ||
          (v6 && c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT)) {
        int v;
        memcpy(&v, CMSG_DATA(c), sizeof v);
        r->hop_limit = v;
      }
    }
    /* A raw IPv4 reply carries its TTL in the header even without the control message. */
    if (r->hop_limit < 0 && raw && !v6) r->hop_limit = buf[8];
    r->error = 0;
    break;
  }
  close(fd);
}

/*
 * The request is shared by the echo thread and the calling JavaScript thread. When that thread
 * ends first (a worker terminated mid-echo), Node deletes `done` without waiting for the echo
 * thread, so a cleanup hook, run before that, marks the request abandoned and the echo thread
 * then frees it instead of answering. Otherwise the answer's delivery frees it.
 */
static pthread_mutex_t echo_lock = PTHREAD_MUTEX_INITIALIZER;

static void echo_abandon(void *arg) {
  echo_request *r = arg;
  pthread_mutex_lock(&echo_lock);
  r->abandoned = 1;
  /* Already answered: the answer is queued in done, whose deletion hands it to echo_settle (env NULL), which frees it. */
  pthread_mutex_unlock(&echo_lock);
}

/* On the calling JavaScript thread: settle the promise and free the request. env is NULL when that thread is ending. */
static void echo_settle(napi_env env, napi_value cb, void *context, void *data) {
  (void)cb;
  (void)context;
  echo_request *r = data;
  /* The echo thread is past its last use of r once it has let go of the lock. */
  pthread_mutex_lock(&echo_lock);
  pthread_mutex_unlock(&echo_lock);
  if (env != NULL) {
    napi_remove_env_cleanup_hook(env, echo_abandon, r);
    napi_value obj, stage;
    napi_create_object(env, &obj);
    set_number(env, obj, "error", r->error);
    set_number(env, obj, "setup", r->setup);
    set_number(env, obj, "rtt", r->rtt);
    set_number(env, obj, "hopLimit", r->hop_limit);
    napi_create_string_utf8(env, r->stage ? r->stage : "", NAPI_AUTO_LENGTH, &stage);
    napi_set_named_property(env, obj, "stage", stage);
    napi_resolve_deferred(env, r->deferred, obj);
  }
  free(r);
}

static void *run_echo(void *arg) {
  echo_request *r = arg;
  echo_execute(r);
  pthread_mutex_lock(&echo_lock);
  int abandoned = r->abandoned;
  if (!abandoned) {
    napi_call_threadsafe_function(r->done, r, napi_tsfn_nonblocking);
    napi_release_threadsafe_function(r->done, napi_tsfn_release);
    r->thread_finished = 1;
  }
  pthread_mutex_unlock(&echo_lock);
  if (abandoned) free(r);
  return NULL;
}

static napi_value icmp_echo(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  echo_request *r = calloc(1, sizeof *r);
  size_t len = 0;
  double timeout = 0;
  int32_t family = 0;
  if (argc < 3 || napi_get_value_string_utf8(env, argv[0], r->address, sizeof r->address, &len) != napi_ok ||
      napi_get_value_int32(env, argv[1], &family) != napi_ok || napi_get_value_double(env, argv[2], &timeout) != napi_ok ||
      (family != 4 && family != 6) || timeout <= 0) {
    free(r);
    napi_throw_type_error(env, NULL, "icmpEcho(address, family 4 or 6, timeoutMs)");
    return NULL;
  }
  unsigned char probe[sizeof(struct in6_addr)];
  if (inet_pton(family == 6 ? AF_INET6 : AF_INET, r->address, probe) != 1) {
    free(r);
    napi_throw_type_error(env, NULL, "icmpEcho: address is not an IP address of that family");
    return NULL;
  }
  r->family = family;
  r->timeout_ms = (int)timeout;
  r->hop_limit = -1;
  napi_value promise, name;
  napi_create_promise(env, &r->deferred, &promise);
  napi_create_string_utf8(env, "falconet icmp echo", NAPI_AUTO_LENGTH, &name);
  /* One per call, made on the calling thread (the agent's probe worker), so the answer goes back there. */
  napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, NULL, echo_settle, &r->done);
  /* Registered after done's own cleanup, so it runs before it (cleanup hooks run last first). */
  napi_add_env_cleanup_hook(env, echo_abandon, r);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_t thread;
  int rc = pthread_create(&thread, &attr, run_echo, r);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    napi_release_threadsafe_function(r->done, napi_tsfn_release);
    r->error = rc;
    r->stage = "socket";
    echo_settle(env, NULL, NULL, r);
  }
  return promise;
}

#endif

static napi_value init(napi_env env, napi_value exports) {
#ifdef __linux__
  napi_property_descriptor methods[] = {
      {"adjtimex", NULL, read_timex, NULL, NULL, NULL, napi_enumerable, NULL},
      {"statfs", NULL, statfs_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openFiles", NULL, open_files, NULL, NULL, NULL, napi_enumerable, NULL},
      {"readFds", NULL, read_fds, NULL, NULL, NULL, napi_enumerable, NULL},
      {"readFd", NULL, read_fd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"closeFds", NULL, close_fds, NULL, NULL, NULL, napi_enumerable, NULL},
      {"dropPages", NULL, drop_pages, NULL, NULL, NULL, napi_enumerable, NULL},
      {"trimMalloc", NULL, trim_malloc, NULL, NULL, NULL, napi_enumerable, NULL},
      {"icmpEcho", NULL, icmp_echo, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof methods / sizeof methods[0], methods);
  /*
   * Echo threads run this library's code after the worker that started them may have ended, and
   * a worker's end unloads the addons it loaded: pinned, the library stays mapped.
   */
  Dl_info self;
  if (dladdr((void *)init, &self) && self.dli_fname) dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
  /*
   * statfs answers on the thread that loaded the module first (the agent's main thread); the
   * probe worker loads it again for icmpEcho only, and must not take statfs's delivery over.
   */
  if (deliver == NULL) {
    napi_value name;
    napi_create_string_utf8(env, "falconet statfs", NAPI_AUTO_LENGTH, &name);
    napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, NULL, settle, &deliver);
    /* Pending calls (a hung mount) must not keep the process alive. */
    napi_unref_threadsafe_function(env, deliver);
  }
#endif
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
