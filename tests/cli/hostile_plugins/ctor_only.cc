// Not a plugin: a shared library whose constructor creates the file named by
// $MEMLENS_TEST_MARKER. memlens must never run it (it has no memlens entry point).
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((constructor)) static void Planted() {
  const char* marker = getenv("MEMLENS_TEST_MARKER");
  if (marker != nullptr) close(open(marker, O_CREAT | O_WRONLY, 0644));
}
