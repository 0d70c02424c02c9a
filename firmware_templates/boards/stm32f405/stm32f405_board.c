/* stm32f405_board.c: STM32F405 (real chip, and QEMU netduinoplus2).
 *
 * Clock: 168 MHz from the PLL fed by the 16 MHz HSI (no crystal needed). QEMU does not
 * model the RCC, so the PLL never reports lock there: the waits are bounded and the
 * firmware carries on, while QEMU clocks the core (and SysTick) at 168 MHz anyway.
 * UART: USART1 at 0x40011000 on PA9 (TX) / PA10 (RX), 115200 8N1; in QEMU it is the
 * first -serial. LED: PB4 (the pyboard's blue LED4), push-pull output, high = on. */
#include "board_config.h"
#include "cortexm.h"
#include "vad_board.h"

#define RCC 0x40023800u
#define RCC_CR (RCC + 0x00u)
#define RCC_PLLCFGR (RCC + 0x04u)
#define RCC_CFGR (RCC + 0x08u)
#define RCC_AHB1ENR (RCC + 0x30u)
#define RCC_APB2ENR (RCC + 0x44u)
#define FLASH_ACR 0x40023C00u
#define GPIOA 0x40020000u
#define GPIOA_MODER (GPIOA + 0x00u)
#define GPIOA_AFRH (GPIOA + 0x24u)
#define GPIOB 0x40020400u
#define GPIOB_MODER (GPIOB + 0x00u)
#define GPIOB_BSRR (GPIOB + 0x18u)
#define LED_PIN 4u
#define USART1 0x40011000u
#define USART_SR (USART1 + 0x00u) /* bit 5 RXNE, bit 7 TXE */
#define USART_DR (USART1 + 0x04u)
#define USART_BRR (USART1 + 0x08u)
#define USART_CR1 (USART1 + 0x0Cu)
#define WAIT_LIMIT 20000u

/* Returns the APB2 clock: 84 MHz with the PLL running, else 16 MHz (HSI). */
static uint32_t clock_init(void) {
  uint32_t n;
  /* PLL: HSI/16 * 336 / 2 = 168 MHz (PLLM=16, PLLN=336, PLLP=2, PLLQ=7) */
  CM_REG(RCC_PLLCFGR) = (CM_REG(RCC_PLLCFGR) & ~0x0F437FFFu) /* keep reserved bits */
                        | 16u | (336u << 6) | (0u << 16) | (0u << 22) | (7u << 24);
  CM_REG(RCC_CR) |= 1u << 24; /* PLLON */
  for (n = 0; n < WAIT_LIMIT && !(CM_REG(RCC_CR) & (1u << 25)); n++) {
  }
  if (!(CM_REG(RCC_CR) & (1u << 25))) { return 16000000u; }
  CM_REG(FLASH_ACR) = 5u | (1u << 8) | (1u << 9) | (1u << 10); /* 5 wait states, caches */
  CM_REG(RCC_CFGR) = (5u << 10) | (4u << 13) | 2u; /* APB1 /4, APB2 /2, SYSCLK = PLL */
  for (n = 0; n < WAIT_LIMIT && ((CM_REG(RCC_CFGR) >> 2) & 3u) != 2u; n++) {
  }
  return ((CM_REG(RCC_CFGR) >> 2) & 3u) == 2u ? BOARD_CLOCK_HZ / 2u : 16000000u;
}

void board_init(int argc, char **argv) {
  uint32_t pclk2;
  (void)argc;
  (void)argv;
  pclk2 = clock_init();
  CM_REG(RCC_AHB1ENR) |= 3u;      /* GPIOA, GPIOB */
  CM_REG(RCC_APB2ENR) |= 1u << 4; /* USART1 */
  CM_REG(GPIOA_MODER) = (CM_REG(GPIOA_MODER) & ~(0xFu << 18)) | (0xAu << 18); /* PA9/10 AF */
  CM_REG(GPIOA_AFRH) = (CM_REG(GPIOA_AFRH) & ~0xFF0u) | 0x770u;             /* AF7 */
  CM_REG(USART_BRR) = (pclk2 + 57600u) / 115200u; /* oversampling by 16 */
  CM_REG(USART_CR1) = (1u << 13) | (1u << 3) | (1u << 2); /* UE, TE, RE */
  CM_REG(GPIOB_MODER) = (CM_REG(GPIOB_MODER) & ~(3u << (2u * LED_PIN))) | (1u << (2u * LED_PIN));
  board_led_set(0);
  cortexm_timer_init();
}

void board_led_set(int on) {
  CM_REG(GPIOB_BSRR) = on ? (1u << LED_PIN) : (1u << (LED_PIN + 16u));
}

int board_uart_poll(void) {
  if (CM_REG(USART_SR) & (1u << 5)) { return (int)(CM_REG(USART_DR) & 0xFFu); }
  return -1;
}

void board_uart_write(const uint8_t *data, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    while (!(CM_REG(USART_SR) & (1u << 7))) {
    }
    CM_REG(USART_DR) = data[i];
  }
}
