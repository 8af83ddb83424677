/* The Bradley-Terry loss of a small batch through the C API, with its gradients, and what a
 * failing call looks like.
 *
 *   cc -Iinclude examples/c/bt_loss.c -L.build/release -ldirrm -o bt_loss && ./bt_loss
 *
 * Prints one line per quantity; exits non-zero if any call does not behave as documented. */
#include <stdio.h>
#include <string.h>

#include "dirrm.h"

#define N 4

int main(void) {
  if (dirrm_version_number() != DIRRM_VERSION_NUMBER) {
    fprintf(stderr, "header %d and library %d differ\n", DIRRM_VERSION_NUMBER,
            dirrm_version_number());
    return 1;
  }
  printf("dirrm %s\n", dirrm_version_string());

  const float r_chosen[N] = {1.5f, 0.2f, -0.3f, 2.0f};
  const float r_rejected[N] = {0.5f, 0.4f, -1.0f, 2.5f};
  const float margin[N] = {0.0f, 0.1f, 0.0f, 0.5f};
  float loss, grad_chosen[N], grad_rejected[N];

  int32_t status = dirrm_bt_loss(N, r_chosen, r_rejected, margin, NULL, 0.01f, &loss,
                                 grad_chosen, grad_rejected);
  if (status != DIRRM_OK) {
    fprintf(stderr, "dirrm_bt_loss: %s\n", dirrm_last_error());
    return 1;
  }
  printf("loss %.9g\n", loss);
  for (int i = 0; i < N; i++) {
    printf("grad %d %.9g %.9g\n", i, grad_chosen[i], grad_rejected[i]);
  }

  /* A bad argument returns a status and leaves a message naming it. */
  const float bad[N] = {1.0f, 0.0f / 0.0f, 0.0f, 0.0f};
  status = dirrm_bt_loss(N, bad, r_rejected, NULL, NULL, 0.0f, &loss, NULL, NULL);
  printf("bad input: status %d (%s): %s\n", status, dirrm_status_string(status),
         dirrm_last_error());
  return status == DIRRM_ERR_NONFINITE && strstr(dirrm_last_error(), "r_chosen[1]") ? 0 : 1;
}
