# SPDX-License-Identifier: MIT
# CL_PTHREAD: find the flags that compile and link POSIX threads programs.
# Tries, in order: -pthread, -lpthread, nothing.  Sets PTHREAD_CFLAGS and
# PTHREAD_LIBS.
AC_DEFUN([CL_PTHREAD], [
  AC_CACHE_CHECK([for the flags POSIX threads need], [cl_cv_pthread_flags], [
    cl_cv_pthread_flags=no
    cl_save_CFLAGS=$CFLAGS
    cl_save_LIBS=$LIBS
    for cl_try in "-pthread|-pthread" "|-lpthread" "|"; do
      CFLAGS="$cl_save_CFLAGS ${cl_try%%|*}"
      LIBS="${cl_try#*|} $cl_save_LIBS"
      AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <pthread.h>
static void *f(void *a) { return a; }]],
        [[pthread_t t; pthread_key_t k;
          if (pthread_create(&t, 0, f, 0)) return 1;
          pthread_key_create(&k, 0); pthread_testcancel();
          return pthread_join(t, 0);]])],
        [cl_cv_pthread_flags=$cl_try; break])
    done
    CFLAGS=$cl_save_CFLAGS
    LIBS=$cl_save_LIBS])
  AS_IF([test "x$cl_cv_pthread_flags" = xno],
    [AC_MSG_ERROR([POSIX threads are required])])
  PTHREAD_CFLAGS=${cl_cv_pthread_flags%%|*}
  PTHREAD_LIBS=${cl_cv_pthread_flags#*|}
  AC_SUBST([PTHREAD_CFLAGS])
  AC_SUBST([PTHREAD_LIBS])
])
