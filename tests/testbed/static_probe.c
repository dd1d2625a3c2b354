/* tests/testbed/static_probe.c: static C program for the testbed smoke test: reports the guest
 * kernel into /out. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/utsname.h>

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : "/out/static_probe.txt";
  const char* guest = getenv("FW_GUEST");
  struct utsname u;
  FILE* f;

  if (uname(&u) != 0 || guest == NULL) return 1;
  f = fopen(path, "w");
  if (f == NULL) return 1;
  fprintf(f, "release=%s\nfw_guest=%s\n", u.release, guest);
  fclose(f);
  printf("static_probe: kernel %s\n", u.release);
  return 0;
}
